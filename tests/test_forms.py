"""show_service_error: service errors land next to the fields they name."""
from __future__ import annotations

from wtforms import Form, StringField

from storefront.errors import ValidationFailed
from storefront.forms import show_service_error


class _Form(Form):
    name = StringField()
    percent = StringField()


def test_single_field_alias_and_default():
    form = _Form()
    assert show_service_error(form, ValidationFailed("bad", field="percent_bp"),
                              aliases={"percent_bp": "percent"})
    assert form.percent.errors == ["bad"]
    assert show_service_error(form, ValidationFailed("unknown", field="nope"), default="name")
    assert form.name.errors == ["unknown"]


def test_several_fields_only_known_ones_and_false_when_nothing_placed():
    form = _Form()
    exc = ValidationFailed("x", details={"fields": {"name": "too long", "ghost": "ignored"}})
    assert show_service_error(form, exc, default="percent")
    assert form.name.errors == ["too long"] and not form.percent.errors
    assert not show_service_error(_Form(), ValidationFailed("no field"))

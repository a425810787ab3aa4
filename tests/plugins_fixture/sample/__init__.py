"""A sample plugin: a hooks module, one route, a template slot and a settings form."""
from __future__ import annotations

from flask import Blueprint, render_template_string
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from storefront.plugins import Plugin
from storefront.plugins.host import get_host

from . import hooks


class SampleSettingsForm(FlaskForm):
    greeting = StringField("Greeting", validators=[DataRequired(), Length(max=20)])
    threshold = IntegerField("Threshold", validators=[NumberRange(min=0, max=100)])


bp = Blueprint("sample_plugin", __name__)


@bp.get("/hello")
def hello():
    greeting = get_host().settings("sample")["greeting"]
    return render_template_string("<p>{{ greeting }}</p>{{ slot('sample_slot') }}", greeting=greeting)


plugin = Plugin(
    name="sample",
    title="Sample plugin",
    version="1.2.3",
    description="A plugin used by the tests.",
    hooks=hooks,
    blueprints=[bp],
    settings_form=SampleSettingsForm,
    default_settings={"greeting": "Hello", "threshold": 5},
)

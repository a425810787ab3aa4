"""Checkout page: parse the form, call checkout.services, render. Prices come only from services."""
from __future__ import annotations

import uuid

from flask import Blueprint, g, get_template_attribute, redirect, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from ..errors import CheckoutBlocked, ServiceError
from ..payments.services import start_payment
from ..plugins.host import get_host
from . import services
from .forms import CheckoutForm

bp = Blueprint("checkout", __name__)


def _default_address_id(user) -> str:
    rows = list(user.addresses)
    chosen = next((a for a in rows if a.is_default), rows[0] if rows else None)
    return str(chosen.id) if chosen else "new"


def _choices(form: CheckoutForm, draft) -> None:
    form.address_id.choices = [(str(a.id), f"{a.name}, {a.phone}, {a.one_line()}") for a in current_user.addresses]
    form.address_id.choices.append(("new", _("A new address")))
    form.delivery_code.choices = [(o.code, o.label) for o in draft.delivery_options]
    form.delivery_code.data = draft.breakdown.delivery_code


def _extra() -> dict:
    """Posted plugin choices: fields named ``<installed plugin name>_...`` (see hookspecs)."""
    prefixes = tuple(f"{name}_" for name in get_host().plugins)
    if not prefixes:
        return {}
    return {key: value for key, value in request.form.items() if key.startswith(prefixes)}


def _draft(form: CheckoutForm):
    """A preview for rendering; a bad choice falls back to defaults so the page always shows."""
    address_id = form.address_id.data if form.address_id.data not in (None, "", "new") else None
    address = form.typed_address() if address_id is None else None
    try:
        return services.prepare_checkout(current_user, delivery_code=form.delivery_code.data or None,
                                         address=address, address_id=address_id, note=form.note.data or "",
                                         extra=_extra())
    except ServiceError:
        return services.prepare_checkout(current_user)


# Markup of an empty, error-free text field, per (locale, field, attributes): see _field_html.
_EMPTY_FIELDS: dict[tuple, Markup] = {}


def _field_html(f, **attrs) -> Markup:
    """``macros.field(f, **attrs)``, from a per-process cache while the field is empty and
    has no error -- as every address field of a fresh checkout page is.

    WTForms builds each input's attributes and escapes them on every call: the eight
    empty text fields were a sixth of the page. Their markup then depends only on the
    field, the attributes and the language of the labels (the cache key).
    """
    if f.data or f.errors or f.raw_data:
        return get_template_attribute("storefront/macros.html", "field")(f, **attrs)
    key = (str(get_locale()), f.id, f.name, f.type, tuple(sorted(attrs.items())))
    html = _EMPTY_FIELDS.get(key)
    if html is None:
        html = get_template_attribute("storefront/macros.html", "field")(f, **attrs)
        if len(_EMPTY_FIELDS) < 512:  # bounded: the locales times the fields of this one form
            _EMPTY_FIELDS[key] = html
    return html


def _render(form: CheckoutForm, errors: list[str] | None = None, status: int = 200):
    draft = _draft(form)
    _choices(form, draft)
    g.no_store = True
    return render_template("checkout/checkout.html", form=form, draft=draft, errors=errors or [],
                           breakdown=draft.breakdown, field_html=_field_html), status


@bp.get("/")
@login_required
def checkout_page():
    form = CheckoutForm(formdata=None)
    form.address_id.data = request.args.get("address_id") or _default_address_id(current_user)
    form.delivery_code.data = request.args.get("delivery_code") or None
    form.idempotency_key.data = uuid.uuid4().hex
    return _render(form)


@bp.post("/")
@login_required
def place():
    form = CheckoutForm()
    if request.form.get("action") == "refresh" or not form.validate():
        if not form.idempotency_key.data:
            form.idempotency_key.data = uuid.uuid4().hex
        return _render(form, status=200 if request.form.get("action") == "refresh" else 422)
    address_id = form.address_id.data if form.address_id.data not in (None, "", "new") else None
    try:
        result = services.place_order(
            current_user._get_current_object(), idempotency_key=form.idempotency_key.data,
            delivery_code=form.delivery_code.data or None, address_id=address_id,
            address=form.typed_address() if address_id is None else None, note=form.note.data or "",
            extra=_extra())
    except CheckoutBlocked as exc:
        problems = exc.details.get("problems") or [{"message": exc.message}]
        return _render(form, [p["message"] for p in problems], 422)
    except ServiceError as exc:
        if exc.field and exc.field in form._fields:
            form[exc.field].errors = list(form[exc.field].errors) + [exc.message]
            return _render(form, status=exc.status if exc.status < 500 else 422)
        if exc.code in ("cart_changed", "out_of_stock"):
            form.idempotency_key.data = uuid.uuid4().hex  # a fresh attempt after the buyer reviews
        return _render(form, [exc.message], exc.status if exc.status < 500 else 422)
    return redirect(start_payment(result.payment))

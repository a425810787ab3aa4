"""Checkout page: parse the form, call checkout.services, render. Prices come only from services.

The same page (and the same form handling) serves a buy-now (立即购买): the product
page's "Buy now" posts one item to ``/checkout/buy-now``, which previews and places it
on a transient cart (:mod:`storefront.checkout.buy_now`); the stored cart is untouched.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import partial

from flask import Blueprint, abort, flash, g, get_template_attribute, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from ..accounts.addresses import addresses_of
from ..cart.models import Cart
from ..cart.services import parse_sku_id
from ..catalog.models import Sku
from ..context_objects import user_object
from ..errors import CheckoutBlocked, NotFound, ServiceError, ValidationFailed
from ..extensions import db
from ..i18n import babel_locale_name, gettext as _
from ..payments.services import start_payment
from ..plugins.host import get_host
from . import buy_now as direct
from . import services
from .forms import CheckoutForm

bp = Blueprint("checkout", __name__)


def _default_address_id(user) -> str:
    rows = list(addresses_of(user))
    chosen = next((a for a in rows if a.is_default), rows[0] if rows else None)
    return str(chosen.id) if chosen else "new"


def _choices(form: CheckoutForm, draft) -> None:
    form.address_id.choices = [SelectChoice(str(a.id), f"{a.name}, {a.phone}, {a.one_line()}")
                               for a in addresses_of(user_object())]
    form.address_id.choices.append(SelectChoice("new", _("A new address")))
    form.delivery_code.choices = [SelectChoice(o.code, o.label) for o in draft.delivery_options]
    form.delivery_code.data = draft.breakdown.delivery_code


def _extra() -> dict:
    """Posted plugin choices: fields named ``<installed plugin name>_...`` (see hookspecs)."""
    prefixes = tuple(f"{name}_" for name in get_host().plugins)
    if not prefixes:
        return {}
    return {key: value for key, value in request.form.items() if key.startswith(prefixes)}


@dataclass
class BuyNowPage:
    """The one item of a buy-now checkout page and the transient cart previewing it."""
    sku_id: int
    quantity: int
    cart: Cart
    #: The plugin choices the cart was built with (a refused one left out) ...
    extra: dict
    #: ... and the refused ones' messages, shown next to their fields (a bad coupon code).
    field_errors: dict = field(default_factory=dict)
    #: The HTTP status of those refusals (422; 429 for too many coupon codes tried).
    refusal_status: int = 422


def _draft(form: CheckoutForm, page: BuyNowPage | None = None):
    """A preview for rendering; a bad choice falls back to defaults so the page always shows."""
    address_id = form.address_id.data if form.address_id.data not in (None, "", "new") else None
    address = form.typed_address() if address_id is None else None
    cart = page.cart if page is not None else services.BUYERS_CART
    try:
        return services.prepare_checkout(user_object(), delivery_code=form.delivery_code.data or None,
                                         address=address, address_id=address_id, note=form.note.data or "",
                                         extra=page.extra if page is not None else _extra(), cart=cart)
    except ServiceError:
        return services.prepare_checkout(user_object(), cart=cart)


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
    key = (babel_locale_name(), f.id, f.name, f.type, tuple(sorted(attrs.items())))
    html = _EMPTY_FIELDS.get(key)
    if html is None:
        html = get_template_attribute("storefront/macros.html", "field")(f, **attrs)
        if len(_EMPTY_FIELDS) < 512:  # bounded: the locales times the fields of this one form
            _EMPTY_FIELDS[key] = html
    return html


def _render(form: CheckoutForm, errors: list[str] | None = None, status: int = 200, *,
            page: BuyNowPage | None = None):
    """The checkout page: of the buyer's cart, or of a buy-now's item (``page``)."""
    draft = _draft(form, page)
    _choices(form, draft)
    g.no_store = True
    return render_template("checkout/checkout.html", form=form, draft=draft, errors=errors or [],
                           breakdown=draft.breakdown, field_html=_field_html, buy_now=page,
                           field_errors=page.field_errors if page is not None else {}), status


def _new_form() -> CheckoutForm:
    form = CheckoutForm(formdata=None)
    form.address_id.data = request.args.get("address_id") or _default_address_id(user_object())
    form.delivery_code.data = request.args.get("delivery_code") or None
    form.idempotency_key.data = uuid.uuid4().hex
    return form


def _render_cart(form: CheckoutForm, errors: list[str] | None = None, status: int = 200, refused=None):
    """``_submit``'s renderer for the cart checkout: a refusal's message is in ``errors``, at the top."""
    return _render(form, errors, status)


def _submit(form: CheckoutForm, place, render=_render_cart):
    """Refresh the page, or place the checkout with ``place(**choices)`` and go to the payment;
    what the services refuse is rendered next to its field or at the top of the page
    (``render(form, errors, status, refused)``, ``refused`` the ServiceError placing got)."""
    if request.form.get("action") == "refresh" or not form.validate():
        if not form.idempotency_key.data:
            form.idempotency_key.data = uuid.uuid4().hex
        return render(form, status=200 if request.form.get("action") == "refresh" else 422)
    address_id = form.address_id.data if form.address_id.data not in (None, "", "new") else None
    try:
        result = place(idempotency_key=form.idempotency_key.data, delivery_code=form.delivery_code.data or None,
                       address_id=address_id, address=form.typed_address() if address_id is None else None,
                       note=form.note.data or "", extra=_extra())
    except CheckoutBlocked as exc:
        problems = exc.details.get("problems") or [{"message": exc.message}]
        return render(form, [p["message"] for p in problems], 422)
    except ServiceError as exc:
        if exc.field and exc.field in form._fields:
            form[exc.field].errors = list(form[exc.field].errors) + [exc.message]
            return render(form, status=exc.status if exc.status < 500 else 422)
        if exc.code in ("cart_changed", "out_of_stock"):
            form.idempotency_key.data = uuid.uuid4().hex  # a fresh attempt after the buyer reviews
        return render(form, [exc.message], exc.status if exc.status < 500 else 422, refused=exc)
    return redirect(start_payment(result.payment))


@bp.get("/")
@login_required
def checkout_page():
    return _render(_new_form())


@bp.post("/")
@login_required
def place():
    return _submit(CheckoutForm(), partial(services.place_order, user_object()))


# Buy now ---------------------------------------------------------------------

def _buy_now_page(sku_id, quantity, extra: dict, refused: ServiceError | None = None) -> BuyNowPage:
    """The item's transient cart with the posted plugin choices. A choice that cannot apply
    (``refused`` by placing, or by the cart's ``buy_now_cart`` hook) is left out and its
    message kept for its field; a refused item (unknown, sold out, bad quantity) raises."""
    field_errors: dict[str, list[str]] = {}
    statuses = [422]

    def without(exc: ServiceError) -> dict:
        field_errors[exc.field] = [exc.message]
        statuses.append(exc.status)
        return {key: value for key, value in extra.items() if key != exc.field}

    if refused is not None and refused.field and refused.field in extra:
        extra = without(refused)
    try:
        cart = direct.direct_cart(user_object(), sku_id, quantity, extra)
    except ServiceError as exc:
        if not exc.field or exc.field not in extra:
            raise
        extra = without(exc)
        cart = direct.direct_cart(user_object(), sku_id, quantity, extra)
    line = cart.lines[0]
    return BuyNowPage(sku_id=line.sku_id, quantity=line.quantity, cart=cart, extra=extra,
                      field_errors=field_errors, refusal_status=max(statuses))


def _render_buy_now(sku_id, quantity, form: CheckoutForm, errors: list[str] | None = None, status: int = 200,
                    refused: ServiceError | None = None):
    """``_render`` for a buy-now; a refused item goes back to its product page instead."""
    try:
        page = _buy_now_page(sku_id, quantity, _extra(), refused)
    except ServiceError as exc:
        return _back_to_item(sku_id, exc)
    if refused is not None and refused.field in page.field_errors:
        errors = [e for e in errors or () if e != refused.message]  # shown next to its field instead
        status = refused.status if refused.status < 500 else 422
    elif page.field_errors and status == 200:
        status = page.refusal_status
    return _render(form, errors, status, page=page)


def _back_to_item(sku_id, exc: ServiceError):
    """A refused item goes back to its product page with the reason; an unknown one is a 404."""
    try:
        sku = db.session.get(Sku, parse_sku_id(sku_id))
    except ValidationFailed:
        sku = None
    if sku is None or (isinstance(exc, NotFound) and exc.field == "sku_id"):
        abort(404)
    flash(exc.message, "error")
    return redirect(url_for("catalog.product", slug=sku.product.slug), 303)


@bp.route("/buy-now", methods=["GET", "POST"])
def buy_now():
    """Buy now from the product page (POST sku_id, quantity), then this page's own form
    (refresh / place). GET is where signing in comes back to."""
    posted = request.form if request.method == "POST" else request.args
    sku_id, quantity = posted.get("sku_id", ""), posted.get("quantity", "1")
    if not user_object().is_authenticated:
        # login_required's redirect, but back to this item: a POST's fields are not in its URL.
        return redirect(url_for("accounts.login", next=url_for("checkout.buy_now", sku_id=sku_id[:20],
                                                                quantity=quantity[:10])))
    render = partial(_render_buy_now, sku_id, quantity)
    if request.method == "GET" or "action" not in request.form:  # from the product page
        return render(_new_form())
    return _submit(CheckoutForm(), partial(direct.buy_now, user_object(),
                                           sku_id=sku_id, quantity=quantity), render)

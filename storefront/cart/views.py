"""Cart pages: parse, call cart.services, render. No business rules here."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..checkout.pricing import price_cart
from ..context_objects import signed_in_user
from ..errors import NotFound, ServiceError, ValidationFailed
from ..i18n import gettext as _
from . import services
from .forms import AddToCartForm, RemoveLineForm, UpdateLineForm

bp = Blueprint("cart", __name__)


def _safe_next(default: str) -> str:
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _render(status: int = 200, line_errors: dict | None = None):
    cart = services.get_cart()
    breakdown = price_cart(cart, signed_in_user())  # the object, not the proxy: pricing reads it often
    return render_template("cart/cart.html", cart=cart, breakdown=breakdown,
                           line_errors=line_errors or {}), status


@bp.get("/")
def view_cart():
    return _render()


@bp.post("/add")
def add():
    form = AddToCartForm()
    back = _safe_next(url_for("cart.view_cart"))
    if not form.validate():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return redirect(back)
    try:
        sku_id = services.parse_sku_id(form.sku_id.data)
        quantity = services.parse_quantity(form.quantity.data)
        services.add_to_cart(sku_id, quantity)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(back)
    flash(_("Added to your cart."), "success")
    return redirect(url_for("cart.view_cart"))


@bp.post("/update")
def update():
    form = UpdateLineForm()
    try:
        key = int(form.sku_id.data or "")
    except ValueError:
        key = None
    cart = services.get_cart()
    try:
        if not form.validate():
            messages = [m for errors in form.errors.values() for m in errors]
            raise ValidationFailed(messages[0] if messages else _("Enter a quantity."), field="quantity")
        if cart is None:
            raise NotFound(_("That item is not in your cart."))
        services.set_quantity(cart, form.sku_id.data, form.quantity.data)
    except ServiceError as exc:
        return _render(exc.status if exc.status < 500 else 422, {key: exc.message})
    flash(_("Cart updated."), "success")
    return redirect(url_for("cart.view_cart"))


@bp.post("/remove")
def remove():
    form = RemoveLineForm()
    cart = services.get_cart()
    try:
        if cart is None or not form.validate():
            raise ServiceError(_("That item is not in your cart."))
        services.remove_item(cart, form.sku_id.data)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("cart.view_cart"))
    flash(_("Removed from your cart."), "success")
    return redirect(url_for("cart.view_cart"))

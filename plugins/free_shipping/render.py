"""Buyer-facing hints: progress towards free shipping in the cart and on product pages."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user
from markupsafe import Markup

from .services import breakdown_progress, region_names, settings


def cart_hint(breakdown) -> Markup | None:
    state = breakdown_progress(breakdown)
    if state is None:
        return None
    return Markup(render_template("free_shipping/hint.html", state=state, mini=False,
                                  regions=region_names(settings())))


def mini_hint() -> Markup | None:
    """The hint for the buyer's current cart (product pages); nothing without a cart."""
    from storefront.cart.services import get_cart
    from storefront.checkout.pricing import price_cart

    cart = get_cart(create=False)
    if cart is None or not cart.lines:
        return None
    buyer = current_user if getattr(current_user, "is_authenticated", False) else None
    state = breakdown_progress(price_cart(cart, buyer))
    if state is None:
        return None
    return Markup(render_template("free_shipping/hint.html", state=state, mini=True, regions=[]))

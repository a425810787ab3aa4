"""Coupon boxes in the cart, checkout, product page and promo popups (template slots)."""
from __future__ import annotations

from flask import render_template, request
from markupsafe import Markup

from storefront.cart.services import get_cart
from storefront.clock import utcnow
from storefront.context_objects import signed_in_user
from storefront.plugins import DeliveryOption

from .claimables import find, offered_coupons
from .rules import describe
from .services import claimed_counts, selection_for, wallet_rows


def _context(breakdown, where: str, checkout=None, field_errors=None) -> dict:
    """What box.html shows. On a buy-now checkout (``checkout.cart`` transient, see
    storefront.checkout.buy_now) the coupon is the checkout's: its cart is priced, and
    the box is fields of the checkout form (``direct``) instead of forms that change the
    stored cart."""
    buyer = signed_in_user()
    direct = checkout is not None and checkout.cart is not None and not checkout.cart.stored
    context = {"buyer": buyer, "where": where, "describe": describe, "selection": None, "wallet": [],
               "claimable": [], "applied": None, "direct": direct}
    if buyer is None:
        return context
    if direct:
        # The box's fields are posted with the checkout form: shown again as posted.
        context.update(code=request.form.get("coupons_code", "").strip(),
                       no_coupon=request.form.get("coupons_none") == "1",
                       code_errors=list((field_errors or {}).get("coupons_code") or ()))
    cart = checkout.cart if direct else get_cart(create=False)
    if cart is not None and breakdown is not None and breakdown.lines:
        delivery = None
        if breakdown.shipping is not None:
            delivery = DeliveryOption(code=breakdown.delivery_code or "", label="", fee=breakdown.shipping,
                                      source="coupons")
        context["selection"] = selection_for(cart, buyer, breakdown.lines, delivery)
    context["applied"] = next((a for a in (breakdown.adjustments if breakdown else ()) if a.source == "coupons"),
                              None)
    if direct:  # no wallet choice nor claiming here: those change the stored cart or wallet
        return context
    context["wallet"] = wallet_rows(buyer)
    held = {row.coupon_id for row in context["wallet"]}
    offered = [c for c in offered_coupons() if c.id not in held]
    claimed = claimed_counts(buyer, [c.id for c in offered])  # one query, not one per coupon
    context["claimable"] = [c for c in offered if claimed.get(c.id, 0) < (c.per_buyer_limit or 1)]
    return context


def cart_summary(context) -> Markup:
    return Markup(render_template("coupons/box.html", **_context(context.get("breakdown"), "cart")))


def checkout_summary(context) -> Markup:
    return Markup(render_template("coupons/box.html", **_context(context.get("breakdown"), "checkout",
                                                                  context.get("checkout"),
                                                                  context.get("field_errors"))))


def product_page(context) -> Markup | None:
    product = context.get("product")
    buyer = signed_in_user()
    coupons = [c for c in offered_coupons() if not c.product_ids or (product is not None and
                                                                        product.id in c.product_ids)]
    if buyer is not None and coupons:
        claimed = claimed_counts(buyer, [c.id for c in coupons])
        coupons = [c for c in coupons if claimed.get(c.id, 0) < (c.per_buyer_limit or 1)]
    if not coupons:
        return None
    return Markup(render_template("coupons/claim_list.html", coupons=coupons, describe=describe, buyer=buyer,
                                  next_url=f"/products/{product.slug}" if product is not None else None))


def popup_coupon_claim(context) -> Markup | None:
    """The promo popups plugin's extension point: a Claim button for a claimable coupon.

    Answered from the claimables cache (no query per page; see claimables.py).
    """
    coupon = find(context.get("coupon_code"))
    if coupon is None or not coupon.claimable(utcnow()):
        return None
    return Markup(render_template("coupons/popup_claim.html", coupon=coupon, rule=coupon.rule,
                                  preview=bool(context.get("preview")), buyer=signed_in_user()))

"""Hook implementations of the coupons plugin (only called while it is enabled)."""
from __future__ import annotations

from storefront.i18n import gettext as _
from storefront.plugins import MenuItem, Problem, hookimpl

# Imported here, not in the hooks: these run on every cart, checkout and product page, and order.
from . import render, rules, services, usage


@hookimpl
def cart_adjustments(cart, lines, subtotal, buyer, delivery):
    selection = services.selection_for(cart, buyer, lines, delivery)
    adjustment = selection.adjustment() if selection is not None else None
    return [adjustment] if adjustment is not None else None


@hookimpl
def validate_checkout(checkout):
    problems = []
    selection = services.selection_for(checkout.cart, checkout.buyer, checkout.breakdown.lines, checkout.delivery)
    if selection is not None and selection.problem and not selection.auto:
        problems.append(Problem("coupon_unavailable", _("%(problem)s The coupon is not applied; remove it or "
                                                        "choose another to continue.", problem=selection.problem),
                                services.PLUGIN_NAME, field="coupons_code"))
    typed = rules.normalize_code((getattr(checkout, "extra", None) or {}).get("coupons_code", ""))
    applied = selection.code if selection is not None and not selection.problem else None
    if typed and typed != applied:
        problems.append(Problem("coupon_not_applied", _("Press “Apply” to use coupon code %(code)s.", code=typed),
                                services.PLUGIN_NAME, field="coupons_code"))
    return problems


@hookimpl
def buy_now_cart(cart, buyer, extra):
    """A code typed with a buy-now (``coupons_code``; ``coupons_none`` = "1": no coupon, not even
    the wallet's best) becomes the transient cart's choice, counted against the same per-buyer
    attempt limit as the cart's code box: buy-now must not be a way round it."""
    code, no_coupon = (extra.get("coupons_code") or "").strip(), extra.get("coupons_none") == "1"
    if not code and not no_coupon:
        return  # the wallet's best coupon applies, as on the cart
    from flask_limiter.errors import RateLimitExceeded

    from storefront.errors import RateLimited
    from storefront.extensions import limiter

    from .buyer import CODE_ATTEMPTS, _attempt_limit, _buyer_key
    from .services import NO_COUPON, choose_for_buy_now, typed_code_choice

    if no_coupon:
        choose_for_buy_now(cart, NO_COUPON)
        return
    try:
        with limiter.shared_limit(_attempt_limit, CODE_ATTEMPTS, key_func=_buyer_key):
            _coupon, choice = typed_code_choice(buyer, code, field="coupons_code")
    except RateLimitExceeded:
        # A refusal of this field like any other (the page shows it next to the code box),
        # still a 429 with code rate_limited in the API.
        raise RateLimited(_("Too many coupon codes tried. Please wait a minute and try again."),
                          field="coupons_code") from None
    choose_for_buy_now(cart, choice)


@hookimpl
def order_placing(order, checkout):
    usage.reserve_for_order(order, checkout)


@hookimpl
def order_event(order, event):
    usage.give_back_for_event(order, event)


@hookimpl
def template_slot(name, context):
    if name in ("cart_summary", "checkout_summary", "product_page", "popup_coupon_claim"):
        return getattr(render, name)(context)
    return None


@hookimpl
def promotion_claimable(ref):
    from .claimables import promotion_claimable as answer

    return answer(ref)


@hookimpl
def account_menu(user):
    return [MenuItem(_("My coupons"), "coupons.wallet", order=40)]


@hookimpl
def admin_menu(user):
    if getattr(user, "is_staff", False):
        return [MenuItem(_("Coupons"), "coupons_admin.index", order=55)]
    return None


@hookimpl
def api_routes(api):
    from storefront.plugins.host import register_plugin_api

    from .api import admin_blp, blp

    register_plugin_api(api, "coupons", blp, "/coupons")
    register_plugin_api(api, "coupons", admin_blp, "/admin/coupons")


@hookimpl
def demo_data(now):
    """A claimable ¥20 off ¥199 coupon and the code DOUBLE11 (10 % off, at most ¥50)."""
    from datetime import timedelta

    from storefront.extensions import db

    from .admin_services import validate
    from .models import Coupon

    db.session.add(Coupon(**validate({
        "name": "¥20 off ¥199", "kind": "fixed", "amount": 2000, "min_spend": 19900, "claimable": True,
        "claim_quota": 1000, "per_buyer_limit": 1, "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=30)})))
    db.session.add(Coupon(**validate({
        "name": "Double 11", "code": "DOUBLE11", "kind": "percent", "percent_bp": 1000, "max_discount": 5000,
        "per_buyer_limit": 1, "starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=14)})))

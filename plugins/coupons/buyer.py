"""Buyer routes: apply/remove a code, use a wallet coupon, claim, and the "My coupons" page.

Every action is a POST with CSRF that redirects back (works without
JavaScript); errors are flashed under the ``coupons_error`` category and shown
next to the code field by the coupon box.
"""
from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_required

from storefront.cart.services import get_cart
from storefront.context_objects import signed_in_user, user_object
from storefront.errors import ServiceError
from storefront.extensions import limiter
from storefront.i18n import gettext as _

from . import services
from .rules import describe

bp = Blueprint("coupons", __name__, url_prefix="/p/coupons", template_folder="templates")
_PATH = re.compile(r"^/[A-Za-z0-9/_.\-]*$")


#: One count of typed codes per buyer, wherever they are typed (the cart's and checkout's code
#: box, ``POST /api/v1/coupons/apply``, a buy-now): otherwise each route would be a fresh set of
#: guesses every minute.
CODE_ATTEMPTS = "coupons-code-attempts"


def _attempt_limit() -> str:
    return f"{int(services.settings().get('code_attempts_per_minute') or 10)}/minute"


def _buyer_key() -> str:
    buyer = signed_in_user()
    if buyer is not None:
        return f"coupons-buyer:{buyer.id}"
    return f"coupons-session:{session.get('_id', request.remote_addr)}"


def _back():
    target = request.form.get("coupons_next") or request.args.get("next") or ""
    if target == "checkout":
        return redirect(url_for("checkout.checkout_page"), 303)
    if _PATH.match(target) and not target.startswith("//"):
        return redirect(target, 303)
    return redirect(url_for("cart.view_cart"), 303)


def _fail(exc: ServiceError):
    flash(exc.message, "coupons_error")
    return _back()


@bp.post("/apply")
@login_required
@limiter.shared_limit(_attempt_limit, CODE_ATTEMPTS, key_func=_buyer_key)
@limiter.limit("30/minute")
def apply_code():
    try:
        coupon = services.apply_code(user_object(), get_cart(create=False), request.form.get("coupons_code", ""))
    except ServiceError as exc:
        return _fail(exc)
    flash(_("Coupon %(name)s applied: %(rule)s.", name=coupon.name, rule=describe(coupon)), "success")
    return _back()


@bp.post("/use")
@login_required
def use_wallet_coupon():
    try:
        coupon = services.choose_wallet_coupon(user_object(), get_cart(create=False),
                                               request.form.get("coupons_wallet"))
    except ServiceError as exc:
        return _fail(exc)
    flash(_("Coupon %(name)s applied: %(rule)s.", name=coupon.name, rule=describe(coupon)), "success")
    return _back()


@bp.post("/remove")
@login_required
def remove():
    services.remove_coupon(user_object(), get_cart(create=False))
    flash(_("Coupon removed."), "success")
    return _back()


@bp.post("/claim")
@login_required
@limiter.limit("30/minute")
def claim():
    try:
        row = services.claim(user_object(), request.form.get("coupon_id"))
    except ServiceError as exc:
        return _fail(exc)
    flash(_("Coupon %(name)s is in your wallet.", name=row.coupon.name), "success")
    return _back()


@bp.get("/wallet")
@login_required
def wallet():
    rows = services.wallet_rows(user_object(), unused_only=False)
    return render_template("coupons/wallet.html", rows=rows, describe=describe,
                           claimable=services.claimable_coupons())

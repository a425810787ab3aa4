"""Reserving a coupon use when an order is placed, and giving it back when the order closes.

Reservation runs inside the checkout transaction (``order_placing``): every
counter moves by a conditional UPDATE whose row count is checked, so a coupon
limited to N uses is used exactly N times however many checkouts race. A
failed condition raises :class:`CheckoutBlocked` and the whole checkout rolls
back (the buyer then sees the coupon removed, never a stale price).

A use is given back at most once: ``status`` moves from ``used`` to
``returned`` by a conditional UPDATE before any counter is decremented.
"""
from __future__ import annotations

from sqlalchemy import inspect, select, text
from sqlalchemy.orm.attributes import set_committed_value

from storefront.clock import utcnow
from storefront.database import insert_loaded, loaded_id, write_transaction
from storefront.errors import CheckoutBlocked
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order, OrderAdjustment
from storefront.orders.status import OrderStatus

from .models import CouponUse
from .services import PLUGIN_NAME, forget_wallet, settings, write_choice


def _refuse(message: str) -> CheckoutBlocked:
    return CheckoutBlocked(message, code="coupon_unavailable", details={"problems": [
        {"code": "coupon_unavailable", "message": message, "source": PLUGIN_NAME, "field": "coupons_code"}]})


def coupon_adjustment(breakdown):
    return next((a for a in breakdown.adjustments if a.source == PLUGIN_NAME), None)


def reserve_use(*, coupon_id: int, user_id: int, payment_id: int, order_id: int, discount: int,
                code_id: int | None = None, wallet_id: int | None = None, now=None) -> CouponUse:
    """Take one use of the coupon for this checkout (call inside a write transaction)."""
    forget_wallet()  # the wallet entry and the use count change
    now = now or utcnow()
    params = {"id": coupon_id, "now": now, "on": True}
    taken = db.session.execute(_TAKE_USE, params).first()
    if taken is None:
        raise _refuse(_("The coupon has run out, expired or was paused; it was removed. "
                        "Review your order and submit again."))
    limit = taken.per_buyer_limit
    # One statement creates the buyer's counter at 1 or moves it up while
    # under the limit; a refused upsert changes no row.
    mine = 0 if limit is not None and limit < 1 else db.session.execute(
        _COUNT_BUYER_USE if limit is None else _COUNT_BUYER_USE_UNDER_LIMIT,
        {"c": coupon_id, "u": user_id, "limit": limit}).rowcount
    if mine != 1:
        raise _refuse(_("You have already used this coupon as often as allowed."))
    if code_id is not None:
        if db.session.execute(_USE_CODE, {"now": now, "u": user_id, "id": code_id, "c": coupon_id}).rowcount != 1:
            raise _refuse(_("This coupon code has already been used."))
    if wallet_id is not None:
        if db.session.execute(_USE_WALLET_ENTRY, {"now": now, "o": order_id, "id": wallet_id, "u": user_id,
                                                  "c": coupon_id}).rowcount != 1:
            raise _refuse(_("This coupon is no longer in your wallet."))
    # Core INSERT: the checkout holds the write lock meanwhile.
    (use,) = insert_loaded(CouponUse, dict(
        coupon_id=coupon_id, user_id=user_id, payment_id=payment_id, order_id=order_id, code_id=code_id,
        wallet_id=wallet_id, discount=discount, status="used", created_at=now))
    return use


# Built once: they run inside the checkout's write transaction, which every other writer
# waits for (parsing a text() statement for its parameters is paid on each construction).
_TAKE_USE = text(
    "UPDATE coupons_coupons SET used = used + 1 WHERE id = :id AND active = :on "
    "AND (starts_at IS NULL OR starts_at <= :now) AND (ends_at IS NULL OR ends_at > :now) "
    "AND (total_quantity IS NULL OR used < total_quantity) RETURNING per_buyer_limit")
_COUNT_BUYER_USE = text(
    "INSERT INTO coupons_buyer_counts (coupon_id, user_id, used, claimed) VALUES (:c, :u, 1, 0) "
    "ON CONFLICT (coupon_id, user_id) DO UPDATE SET used = coupons_buyer_counts.used + 1")
_COUNT_BUYER_USE_UNDER_LIMIT = text(_COUNT_BUYER_USE.text + " WHERE coupons_buyer_counts.used < :limit")
_USE_CODE = text("UPDATE coupons_codes SET used_at = :now, used_by = :u WHERE id = :id AND coupon_id = :c "
                 "AND used_at IS NULL")
_USE_WALLET_ENTRY = text("UPDATE coupons_wallet SET used_at = :now, order_id = :o WHERE id = :id AND user_id = :u "
                         "AND coupon_id = :c AND used_at IS NULL")


def _carries_coupon(order) -> bool:
    if "adjustments" not in inspect(order).unloaded:  # written by this checkout, still in memory
        return any(adj.source == PLUGIN_NAME for adj in order.adjustments)
    return db.session.scalar(select(OrderAdjustment.id).where(OrderAdjustment.order_id == order.id,
                                                              OrderAdjustment.source == PLUGIN_NAME).limit(1)) is not None


def reserve_for_order(order, checkout) -> CouponUse | None:
    """``order_placing``: one use per checkout, recorded on the first order carrying a share of it.

    A split checkout spreads the discount over the lines of every order (each
    order stores its share as an ``OrderAdjustment`` with the per-line
    allocation refunds use); the use itself is taken once.
    """
    adj = coupon_adjustment(checkout.breakdown)
    if adj is None:
        return None
    done = db.session.info.setdefault("coupons_reserved", set())
    if order.payment_id in done or not _carries_coupon(order):
        return None
    data = adj.data or {}
    use = reserve_use(coupon_id=int(data["coupon_id"]), user_id=checkout.buyer.id, payment_id=order.payment_id,
                      order_id=order.id, discount=-int(adj.amount), code_id=data.get("code_id"),
                      wallet_id=data.get("wallet_id"))
    done.add(order.payment_id)
    cart = checkout.cart
    # A buy-now's transient cart was never stored: its choice goes with it.
    if cart is not None and cart.stored and (cart.data or {}).get(PLUGIN_NAME):
        # Mirrored on the checkout's copy of the cart, which it holds as priced.
        set_committed_value(cart, "data", write_choice(loaded_id(cart), None))
    return use


RETURNABLE_FROM = (OrderStatus.PENDING_PAYMENT.value, OrderStatus.PAID.value)


def give_back_for_event(order, event) -> bool:
    """``order_event``: the coupon of a checkout goes back (setting ``return_on_close``) when the
    last order carrying a share of it closes, provided none of those orders was ever shipped.

    One coupon use belongs to the whole checkout, so it cannot go back while
    any order that got part of the discount is still open, nor once any of
    them shipped (the buyer kept goods bought with the discount).
    """
    if event.to_status != OrderStatus.CLOSED.value or event.from_status not in RETURNABLE_FROM:
        return False
    if not settings().get("return_on_close", True):
        return False
    use = db.session.execute(select(CouponUse).where(CouponUse.payment_id == order.payment_id,
                                                     CouponUse.status == "used")).scalar_one_or_none()
    if use is None:
        return False
    carrying = db.session.execute(
        select(Order.status, Order.shipped_at).join(OrderAdjustment, OrderAdjustment.order_id == Order.id)
        .where(Order.payment_id == order.payment_id, OrderAdjustment.source == PLUGIN_NAME)).all()
    if any(status != OrderStatus.CLOSED.value or shipped_at is not None for status, shipped_at in carrying):
        return False
    return give_back(use.id)


def give_back(use_id: int) -> bool:
    """Return one use to the coupon, the buyer's count, the code or the wallet — exactly once."""
    forget_wallet()
    with write_transaction():
        use = db.session.get(CouponUse, use_id)
        if use is None:
            return False
        if db.session.execute(text(
                "UPDATE coupons_uses SET status = 'returned', returned_at = :now WHERE id = :id "
                "AND status = 'used'"), {"id": use_id, "now": utcnow()}).rowcount != 1:
            return False
        db.session.execute(text("UPDATE coupons_coupons SET used = used - 1 WHERE id = :id AND used > 0"),
                           {"id": use.coupon_id})
        db.session.execute(text("UPDATE coupons_buyer_counts SET used = used - 1 WHERE coupon_id = :c "
                                "AND user_id = :u AND used > 0"), {"c": use.coupon_id, "u": use.user_id})
        if use.code_id is not None:
            db.session.execute(text("UPDATE coupons_codes SET used_at = NULL, used_by = NULL WHERE id = :id"),
                               {"id": use.code_id})
        if use.wallet_id is not None:
            db.session.execute(text("UPDATE coupons_wallet SET used_at = NULL, order_id = NULL WHERE id = :id"),
                               {"id": use.wallet_id})
    return True

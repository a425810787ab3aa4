"""Refunds owed but never started: the sweep that starts them.

Closing a paid order and applying a payment to an order that closed meanwhile
both commit first and call the provider afterwards, outside any transaction
(a provider call must not hold locks, and must not be undone by a rollback).
A worker that dies in between would leave the buyer's money with the shop, so
each leaves a marker in the transaction it commits -- the close sets
``order.data["refund_on_close"]``, a late payment lists the order's share in
``payment.data["needs_refund"]`` -- and this sweep starts every such refund
that has no Refund row yet, once the owning request had time to do it.

Only refunds never started are started here. A provider failure has its
Refund row (status ``failed``) and a ``refund_failed`` timeline entry for
staff to act on; retrying it blindly could pay twice through a provider that
half-succeeded.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from ..orders.models import Order
from ..orders.services import REFUND_ON_CLOSE, refund_closed_order
from ..orders.status import OrderStatus
from ..orders.transitions import SYSTEM
from .models import OrderPayment, Payment, Refund
from .services import _refund_late

#: The request that closed the order normally refunds within a second; the sweep waits this long.
GRACE = timedelta(minutes=5)
#: How far back the sweep looks (bounded, index ``ix_orders_status_closed_at``); a worker outage
#: longer than this needs a person anyway.
LOOKBACK = timedelta(days=7)


def start_owed_refunds(now: datetime) -> int:
    """Start the refunds owed by closed orders closed between ``LOOKBACK`` and ``GRACE`` ago."""
    candidates = db.session.execute(
        select(Order.id, Order.data, Order.close_reason)
        .where(Order.status == OrderStatus.CLOSED, Order.closed_at >= now - LOOKBACK,
               Order.closed_at <= now - GRACE, Order.paid_total > Order.refunded_total)
        .order_by(Order.id)).all()
    if not candidates:
        return 0
    ids = [row.id for row in candidates]
    keys = set(db.session.scalars(select(Refund.idempotency_key).where(Refund.order_id.in_(ids))))
    started = 0
    for order_id, data, close_reason in candidates:
        if (data or {}).get(REFUND_ON_CLOSE) and f"close-{order_id}" not in keys:
            refund_closed_order(order_id, close_reason or "closed", SYSTEM)
            started += 1
    late = db.session.execute(
        select(Payment, OrderPayment.order_id).join(OrderPayment, OrderPayment.payment_id == Payment.id)
        .where(OrderPayment.order_id.in_(ids))).all()
    for payment, order_id in late:
        for item in (payment.data or {}).get("needs_refund", []):
            if (item.get("order_id") == order_id and item.get("refund_id") is None
                    and f"late-{payment.id}-{order_id}" not in keys):
                _refund_late(payment, order_id, int(item.get("amount") or 0))
                started += 1
    return started

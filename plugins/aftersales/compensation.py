"""Compensation owed by the shop (DOMAIN.md §3), paid automatically, exactly once per order and kind.

- Late shipment: the core flags a paid order past its ship-by deadline once
  (order event ``ship_overdue``) → a share of what the buyer paid (money plus
  store credit), clamped to [minimum, maximum].
- Out of stock: staff closed the paid order with reason ``out_of_stock`` →
  a share of the item price (lines at list price), capped.

The unique (order, kind) row in ``aftersales_compensations`` is the claim:
whoever inserts it pays, everyone else does nothing. With the ``refund``
method a late-shipment compensation goes back through the payment provider
(idempotent by key) and falls back to store credit when the provider or the
refund cap refuses it. An out-of-stock compensation is always store credit:
the closed order's payment is already refunded in full, so a "refund" would
be swallowed by it.

``order_event`` pays at once; the sweep catches up events younger than the
``compensation_catch_up_hours`` setting that were missed (plugin briefly
disabled, worker crash) and finishes claims left pending by a crash. Older
events are not paid retroactively: switching the plugin on must not pay for
history the seller never agreed to.
"""
from __future__ import annotations

import functools
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, bindparam, select, update

from storefront import joined_rows
from storefront.clock import utcnow
from storefront.database import write_transaction
from storefront.extensions import db
from storefront.i18n import format_money, gettext as _
from storefront.money import percent_of
from storefront.notify.services import queue_order_message
from storefront.orders.models import Order
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor, record_event

from . import credit
from .money_models import Compensation

LATE, OUT_OF_STOCK = "late_shipment", "out_of_stock"
EVENT_KIND = "aftersales_compensation"
SYSTEM = Actor.system("compensation")
PENDING_RETRY_AFTER = timedelta(minutes=10)
#: Index-friendly bounds of the catch-up scans: the core flags an order late within a
#: sweep or two of its ship-by deadline, and a seller cancels within weeks of placing.
FLAG_SLACK = timedelta(days=1)
CATCH_UP_PLACED_WITHIN = timedelta(days=60)


def late_amount(paid: int, settings: dict) -> int:
    amount = percent_of(max(int(paid), 0), int(settings.get("late_percent_bp", 500)))
    amount = max(amount, int(settings.get("late_min", 100)))
    return min(amount, int(settings.get("late_max", 3000)))


def oos_amount(item_price: int, settings: dict) -> int:
    amount = percent_of(max(int(item_price), 0), int(settings.get("oos_percent_bp", 3000)))
    return min(amount, int(settings.get("oos_cap", 3000)))


def _due(order: Order, kind: str, settings: dict) -> tuple[int, int] | None:
    """(basis, amount) owed for ``kind`` on ``order``, or None when nothing is owed."""
    if order.user_id is None or order.paid_at is None:
        return None
    if kind == LATE:
        if not settings.get("late_compensation", True) or order.ship_overdue_at is None:
            return None
        basis = int(order.total) + credit.credit_used_by_order(order.id)
        return basis, late_amount(basis, settings)
    if kind == OUT_OF_STOCK:
        if (not settings.get("oos_compensation", True) or OrderStatus(order.status) != OrderStatus.CLOSED
                or order.close_reason != CancelReason.OUT_OF_STOCK.value or not order.closed_by_seller):
            return None
        basis = sum(int(line.line_subtotal) for line in order.lines)
        return basis, oos_amount(basis, settings)
    raise ValueError(kind)


def _claim(order: Order, kind: str, basis: int, amount: int, method: str) -> bool:
    return credit._insert_ignoring_conflict(Compensation.__table__, {
        "order_id": order.id, "user_id": order.user_id, "kind": kind, "basis": basis, "amount": amount,
        "currency": order.currency, "method": method, "status": "pending", "note": "",
        "created_at": utcnow()}, ["order_id", "kind"])


def compensate(order_id: int, kind: str) -> Compensation | None:
    """Pay what ``kind`` owes on the order, once; returns the compensation if this call claimed it."""
    settings = credit._settings()
    method = "refund" if settings.get("compensation_method") == "refund" and kind == LATE else "credit"
    with write_transaction():
        order = db.session.get(Order, order_id, populate_existing=True)
        if order is None:
            return None
        due = _due(order, kind, settings)
        if due is None or due[1] <= 0:
            return None
        if not _claim(order, kind, due[0], due[1], method):
            return None
        row = _row(order_id, kind)
        if method == "credit":
            _pay_as_credit(order, row)
            return row
    _pay_by_refund(order_id, kind)
    return _row(order_id, kind)


def _row(order_id: int, kind: str) -> Compensation:
    return db.session.execute(
        select(Compensation).where(Compensation.order_id == order_id, Compensation.kind == kind)
        .execution_options(populate_existing=True)).scalar_one()


def _mark_paid(row: Compensation, method: str, note: str = "") -> bool:
    won = db.session.execute(
        update(Compensation).where(Compensation.id == row.id, Compensation.status == "pending")
        .values(status="paid", method=method, paid_at=utcnow(), note=note[:500])
        .execution_options(synchronize_session=False)).rowcount
    return won == 1


def _pay_as_credit(order: Order, row: Compensation, note: str = "") -> None:
    """Inside a write transaction: credit, mark paid, timeline entry and buyer message."""
    if not _mark_paid(row, "credit", note):
        return
    credit.post(order.user_id, row.amount, "compensation", f"comp-{row.kind}-{order.id}",
                currency=row.currency, order_id=order.id, note=row.kind, actor=SYSTEM)
    _announce(order, row.kind, row.amount, "credit")


def _pay_by_refund(order_id: int, kind: str) -> None:
    from storefront.errors import ServiceError
    from storefront.payments.services import refund

    row = _row(order_id, kind)
    if row.status != "pending":
        return
    order = db.session.get(Order, order_id)
    failure = ""
    try:
        made = refund(order, row.amount, _("Compensation"), f"aftersales-comp-{kind}-{order_id}", SYSTEM)
    except ServiceError as exc:
        failure = exc.code
    except Exception:  # the provider is out of our hands: the buyer still gets credit
        current_app.logger.exception("compensation refund of order %s failed", order_id)
        failure = "provider_error"
    else:
        # The key may name an earlier attempt (a retry of a claim a crashed worker left, two
        # sweepers at once): refund() then answers with that attempt's row, whatever became of it.
        if made.status == "failed":
            failure = "refund_failed"
        elif made.status != "succeeded":
            # Still in flight elsewhere, or cut off mid-way: its money may be on its way, so no
            # credit -- the claim stays pending and the sweep asks again.
            current_app.logger.warning("compensation refund of order %s is still %s", order_id, made.status)
            return
    with write_transaction():
        order = db.session.get(Order, order_id, populate_existing=True)
        row = _row(order_id, kind)
        if failure:
            _pay_as_credit(order, row, note=f"refund failed ({failure}), paid as store credit")
        elif _mark_paid(row, "refund"):
            _announce(order, kind, row.amount, "refund")


def _announce(order: Order, kind: str, amount: int, method: str) -> None:
    record_event(order, EVENT_KIND, actor=SYSTEM, source="aftersales", public=True,
                 data={"kind": kind, "amount": amount, "currency": order.currency, "method": method})

    def render() -> tuple[str, str]:
        value = format_money(amount, order.currency)
        why = (_("your order shipped late") if kind == LATE
               else _("an item of your order was out of stock"))
        how = (_("It was added to your store credit and is spent automatically at your next checkout.")
               if method == "credit" else _("It was refunded to your original payment method."))
        subject = _("Compensation of %(amount)s for order %(number)s", amount=value, number=order.number)
        body = "\n".join([
            _("We are sorry: %(why)s.", why=why),
            _("We have paid you %(amount)s as compensation.", amount=value),
            how,
        ])
        return subject, body

    queue_order_message(order, "aftersales_compensation", render)


def for_order(order_id: int) -> list[Compensation]:
    return joined_rows.scalars(_for_order_query(), {"order_id": order_id})


@functools.cache
def _for_order_query():
    # Every order page asks: built once, read in Core (storefront.joined_rows).
    return select(Compensation).where(Compensation.order_id == bindparam("order_id")).order_by(Compensation.id)


def recent(limit: int = 100) -> list[Compensation]:
    return list(db.session.execute(
        select(Compensation).order_by(Compensation.id.desc()).limit(max(1, min(limit, 500)))).scalars())


# -- sweep ------------------------------------------------------------------------------
def _missed(kind: str, since, now, limit: int) -> list[int]:
    comp = Compensation.__table__
    stmt = (select(Order.id)
            .outerjoin(comp, and_(comp.c.order_id == Order.id, comp.c.kind == kind))
            .where(comp.c.id.is_(None), Order.paid_at.is_not(None), Order.user_id.is_not(None)))
    if kind == LATE:
        # (status, ship_by) is indexed; a flagged order may have moved on to any later status.
        stmt = stmt.where(Order.status.in_([s for s in OrderStatus if s != OrderStatus.PENDING_PAYMENT]),
                          Order.ship_by >= since - FLAG_SLACK, Order.ship_by <= now,
                          Order.ship_overdue_at >= since)
    else:
        stmt = stmt.where(Order.placed_at >= since - CATCH_UP_PLACED_WITHIN, Order.status == OrderStatus.CLOSED,
                          Order.close_reason == CancelReason.OUT_OF_STOCK.value,
                          Order.closed_by_seller.is_(True), Order.closed_at >= since)
    return [int(i) for i in db.session.execute(stmt.order_by(Order.id).limit(limit)).scalars()]


def sweep(now, limit: int = 200) -> dict[str, int]:
    settings = credit._settings()
    paid = 0
    hours = int(settings.get("compensation_catch_up_hours", 24) or 0)
    if hours > 0:
        since = now - timedelta(hours=hours)
        for kind in (LATE, OUT_OF_STOCK):
            ids = _missed(kind, since, now, limit)
            db.session.commit()
            for order_id in ids:
                try:
                    if compensate(order_id, kind) is not None:
                        paid += 1
                except Exception:  # one bad order must not stop the sweep
                    current_app.logger.exception("compensation %s of order %s failed", kind, order_id)
    # Claims a crashed worker left between the claim and the refund.
    stale = list(db.session.execute(
        select(Compensation.order_id, Compensation.kind)
        .where(Compensation.status == "pending", Compensation.created_at < now - PENDING_RETRY_AFTER)
        .limit(limit)).all())
    db.session.commit()
    for order_id, kind in stale:
        try:
            _pay_by_refund(order_id, kind)
        except Exception:
            current_app.logger.exception("pending compensation %s of order %s failed", kind, order_id)
    return {"aftersales_compensations_caught_up": paid}

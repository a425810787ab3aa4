"""Presale deadlines: balance reminders, closing unpaid balances, giving quota back.

Each step claims its row with a conditional UPDATE (``reminded_open_at IS
NULL``, ``balance_closed_at IS NULL``, ``released_at IS NULL``) in the same
short transaction as its effect, so concurrent sweeps on several machines
do each thing exactly once. These run whether or not the plugin is enabled
(see ``always.py``): orders already sold keep their balance windows.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, text, update

from storefront.database import write_transaction
from storefront.errors import ServiceError
from storefront.extensions import db
from storefront.i18n import format_money, gettext as _
from storefront.notify.services import queue_order_message
from storefront.orders.models import Order
from storefront.orders.services import close_order
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor, record_event
from storefront.plugins.host import get_host

from .models import DEPOSIT, PresaleOrder, Reservation
from .services import PLUGIN_NAME, DEFAULT_SETTINGS, order_promise, release_order
from .times import when_text

BATCH = 100
SYSTEM = Actor.system("presale")


def _settings() -> dict:
    host = get_host()
    return host.settings(PLUGIN_NAME) if PLUGIN_NAME in host.plugins else dict(DEFAULT_SETTINGS)


def _waiting_balance(*conditions):
    """Deposit orders with the deposit received and the balance not yet paid."""
    return (select(PresaleOrder.id, PresaleOrder.order_id).join(Order, Order.id == PresaleOrder.order_id)
            .where(PresaleOrder.mode == DEPOSIT, Order.status == OrderStatus.PENDING_PAYMENT,
                   Order.paid_total > 0, *conditions)
            .order_by(PresaleOrder.id).limit(BATCH))


def _rows(stmt) -> list[tuple[int, int]]:
    try:
        return [tuple(r) for r in db.session.execute(stmt).all()]
    finally:
        db.session.commit()  # a candidate list is only a hint: hold nothing while working


def _balance_text(order: Order, record: PresaleOrder) -> str:
    return _("Balance %(amount)s due between %(start)s and %(end)s (shop time).",
             amount=format_money(order.total - order.paid_total, order.currency),
             start=when_text(record.balance_opens_at), end=when_text(record.balance_closes_at))


def _remind(now: datetime, column: str, kind: str, conditions) -> int:
    done = 0
    for record_id, order_id in _rows(_waiting_balance(getattr(PresaleOrder, column).is_(None), *conditions)):
        try:
            with write_transaction():
                stamp = getattr(PresaleOrder, column)
                won = db.session.execute(
                    update(PresaleOrder).where(PresaleOrder.id == record_id, stamp.is_(None))
                    .values({stamp: now}).execution_options(synchronize_session=False)).rowcount
                if won != 1:
                    continue
                order = db.session.get(Order, order_id, populate_existing=True)
                record = db.session.get(PresaleOrder, record_id, populate_existing=True)

                def render(order=order, record=record, kind=kind):
                    if kind == "presale_balance_open":
                        subject = _("Order %(number)s: the balance can be paid now", number=order.number)
                    else:
                        subject = _("Order %(number)s: last day to pay the balance", number=order.number)
                    body = "\n".join([_balance_text(order, record), order_promise(record),
                                      _("Pay it from your order page, or the order closes.")])
                    return subject, body

                queue_order_message(order, kind, render)
                record_event(order, kind, actor=SYSTEM, source=PLUGIN_NAME,
                             data={"balance": order.total - order.paid_total})
            done += 1
        except Exception:  # one bad order must not stop the sweep
            current_app.logger.exception("presale reminder failed for order %s", order_id)
    return done


def remind_balance_open(now: datetime) -> int:
    """Tell the buyer once when the balance window opens."""
    return _remind(now, "reminded_open_at", "presale_balance_open",
                   (PresaleOrder.balance_opens_at <= now, PresaleOrder.balance_closes_at > now))


def remind_balance_closing(now: datetime) -> int:
    """Tell the buyer once, N hours (setting, default 24) before the window closes."""
    hours = int(_settings().get("remind_hours_before_close") or 24)
    return _remind(now, "reminded_close_at", "presale_balance_reminder",
                   (PresaleOrder.balance_opens_at <= now, PresaleOrder.balance_closes_at > now,
                    PresaleOrder.balance_closes_at <= now + timedelta(hours=hours)))


def close_unpaid_balances(now: datetime) -> int:
    """Close deposit orders whose balance window ended unpaid; keep or return the deposit."""
    done = 0
    for record_id, order_id in _rows(_waiting_balance(PresaleOrder.balance_closed_at.is_(None),
                                                      PresaleOrder.balance_closes_at <= now)):
        try:
            with write_transaction():
                won = db.session.execute(
                    text("UPDATE presale_orders SET balance_closed_at = :now "
                         "WHERE id = :id AND balance_closed_at IS NULL"), {"now": now, "id": record_id}).rowcount
                if won != 1:
                    continue
                order = db.session.get(Order, order_id, populate_existing=True)
                record = db.session.get(PresaleOrder, record_id, populate_existing=True)
                keep = not record.return_deposit
                received = int(order.paid_total or 0) - int(order.refunded_total or 0)
                # A payment or close that won meanwhile makes this raise: nothing here is kept.
                close_order(order, CancelReason.PLUGIN, SYSTEM, _("Balance not paid in time"), keep_paid=keep,
                            fresh=True)
                record_event(order, "presale_balance_unpaid", actor=SYSTEM, source=PLUGIN_NAME,
                             data={"deposit_kept": keep, "amount": received,
                                   "why": "setting_keep" if keep else "setting_return"})
            done += 1
        except ServiceError as exc:
            current_app.logger.info("presale balance close skipped order %s: %s", order_id, exc.code)
        except Exception:
            current_app.logger.exception("presale balance close failed for order %s", order_id)
    return done


def release_closed(now: datetime) -> int:
    """Quota of closed orders not given back yet (a crash, or the plugin was off at close time)."""
    stmt = (select(Reservation.order_id).join(Order, Order.id == Reservation.order_id)
            .where(Reservation.released_at.is_(None), Order.status == OrderStatus.CLOSED)
            .distinct().order_by(Reservation.order_id).limit(BATCH))
    released = 0
    for order_id in _order_ids(stmt):
        try:
            released += release_order(order_id, now)
        except Exception:
            current_app.logger.exception("presale quota release failed for order %s", order_id)
    return released


def _order_ids(stmt) -> list[int]:
    try:
        return list(db.session.execute(stmt).scalars())
    finally:
        db.session.commit()


def run(now: datetime) -> dict[str, int]:
    return {"presale_balance_open_reminders": remind_balance_open(now),
            "presale_balance_close_reminders": remind_balance_closing(now),
            "presale_balances_closed": close_unpaid_balances(now),
            "presale_quota_released": release_closed(now)}

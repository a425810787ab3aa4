"""Deadline sweeps: idempotent, safe to run concurrently on several machines.

Candidates are read in small keyset batches; each order is then handled in
its own short write transaction. On PostgreSQL a row another worker holds is
skipped (``FOR UPDATE SKIP LOCKED``); everywhere the conditional status
UPDATE inside ``transition()`` lets exactly one worker win, and the loser's
``ConcurrentUpdate`` (or the order no longer being due) just means "done".
"""
from __future__ import annotations

from typing import Callable

from flask import current_app
from sqlalchemy import select, true, update

from ..clock import utcnow
from ..database import write_transaction
from ..errors import ServiceError
from ..extensions import db
from ..jobs.progress import purge_old_jobs
from ..notify.delivery import purge_delivered
from ..plugins.host import get_host
from .models import Order
from .status import CancelReason, OrderStatus
from .transitions import Actor

BATCH = 50


def _candidate_ids(status: OrderStatus, deadline_col, now, after_id: int, extra=None) -> list[int]:
    stmt = (
        select(Order.id)
        .where(Order.status == status, deadline_col < now, Order.id > after_id, extra if extra is not None else true())
        .order_by(Order.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)  # no-op on SQLite
    )
    try:
        return list(db.session.execute(stmt).scalars())
    finally:
        db.session.commit()  # a candidate list is only a hint: hold no lock while working


def _claim(order_id: int, status: OrderStatus, deadline_col, now, extra=None) -> Order | None:
    """Inside a write transaction: the order, still due, locked for us, or None."""
    stmt = (
        select(Order)
        .where(Order.id == order_id, Order.status == status, deadline_col < now,
               extra if extra is not None else true())
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def _sweep(status: OrderStatus, deadline_col, now, act: Callable[[Order], None], label: str,
           extra=None) -> int:
    done = 0
    after_id = 0
    while True:
        ids = _candidate_ids(status, deadline_col, now, after_id, extra)
        if not ids:
            return done
        after_id = ids[-1]
        for order_id in ids:
            try:
                with write_transaction():
                    order = _claim(order_id, status, deadline_col, now, extra)
                    if order is None:
                        continue  # another worker has it or already did it
                    act(order)
                done += 1
            except ServiceError as exc:
                # ConcurrentUpdate: another worker won. TransitionVetoed: e.g.
                # an open refund case pauses auto-confirm. Both: leave it.
                current_app.logger.info("%s skipped order %s: %s", label, order_id, exc.code)
            except Exception:  # one bad order must not stop the sweep
                current_app.logger.exception("%s failed for order %s", label, order_id)


def close_unpaid(now) -> int:
    """Close orders whose payment deadline passed; their stock comes back once.

    Only orders that received nothing: a part-paid order (a presale deposit)
    waits for its balance, whose deadline belongs to the plugin that split it.
    """
    from .services import close_order

    system = Actor.system("payment timeout")
    return _sweep(OrderStatus.PENDING_PAYMENT, Order.pay_deadline, now,
                  lambda order: close_order(order, CancelReason.PAYMENT_TIMEOUT, system, fresh=True),
                  "unpaid close", extra=Order.paid_total == 0)


def auto_confirm_shipped(now) -> int:
    """Complete shipped orders whose auto-confirm deadline passed (unless vetoed)."""
    from .services import auto_confirm

    return _sweep(OrderStatus.SHIPPED, Order.auto_confirm_at, now, lambda order: auto_confirm(order, fresh=True),
                  "auto-confirm")


def flag_late_shipments(now) -> int:
    """Record the core's late-shipment event once per paid order past its ship-by deadline.

    Plugins react to it through ``order_event`` (kind ``"ship_overdue"``): the
    after-sales plugin pays the late-shipment compensation of DOMAIN.md §3.
    The conditional UPDATE on ``ship_overdue_at`` makes it exactly once even
    when several machines sweep at the same time.
    """
    from .transitions import record_event

    system = Actor.system("ship-by deadline")

    def flag(order: Order) -> None:
        won = db.session.execute(
            update(Order)
            .where(Order.id == order.id, Order.status == OrderStatus.PAID, Order.ship_overdue_at.is_(None))
            .values(ship_overdue_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            record_event(order, "ship_overdue", actor=system, public=False,
                         data={"ship_by": order.ship_by.isoformat() if order.ship_by else None})

    due = Order.ship_by  # candidates: paid and past ship_by; already-flagged ones are skipped by the UPDATE
    return _sweep(OrderStatus.PAID, due, now, flag, "late shipment",
                  extra=Order.ship_overdue_at.is_(None))


def run_core_sweeps(now) -> dict[str, int]:
    """Close unpaid orders past their deadline, flag late shipments, auto-confirm shipped ones,
    start refunds a dead worker left owed, and forget background-job reports and delivered
    notifications nobody will read any more."""
    from ..payments.owed import start_owed_refunds  # payments import the order services

    return {"refunds_started": start_owed_refunds(now),
            "orders_closed_unpaid": close_unpaid(now), "orders_flagged_late": flag_late_shipments(now),
            "orders_auto_confirmed": auto_confirm_shipped(now), "jobs_purged": purge_old_jobs(now),
            "notifications_purged": purge_delivered(now)}


def run_all_sweeps(now=None) -> dict[str, int]:
    now = now or utcnow()
    counts: dict[str, int] = {}
    for result in get_host().hook.sweep(now=now):
        for key, value in (result or {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    return counts

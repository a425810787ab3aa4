"""Deadlines and repairs run by the ``sweep`` hook (every minute while the plugin is enabled).

- a reminder after ``remind_after_days`` of being ready, cancellation with
  refund after ``cancel_after_days``;
- reconciliation of what happened while the plugin was switched off (its
  ``order_event`` hook is not called then): pickups of closed orders get their
  slot and store stock back, pickups of orders completed meanwhile are marked
  collected.

Each step is a conditional UPDATE, so concurrent sweeps on several machines act once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from storefront.database import write_transaction
from storefront.errors import ServiceError
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.services import close_order
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor, record_event

from . import services
from .models import CANCELLED, COLLECTED, OPEN_STATUSES, READY, Pickup
from .pickups import SOURCE, _notify, _reminder_text, release

ACTOR_LABEL = "store pickup"


def cancel_uncollected(pickup_id: int, now: datetime, actor: Actor) -> bool:
    """Cancel a ready pickup nobody collected: close the order, restock, refund (once)."""
    with write_transaction():
        won = db.session.execute(
            update(Pickup).where(Pickup.id == pickup_id, Pickup.status == READY)
            .values(status=CANCELLED, open_code=None, cancelled_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if won != 1:
            return False
        pickup = db.session.get(Pickup, pickup_id, populate_existing=True)
        order = db.session.get(Order, pickup.order_id, populate_existing=True)
        record_event(order, "pickup_uncollected", actor=actor, source=SOURCE,
                     data={"reference": pickup.reference})
        if OrderStatus(order.status) == OrderStatus.SHIPPED:
            # The goods waited at the store: they go back on sale and the buyer is refunded.
            close_order(order, CancelReason.REFUNDED, actor, note=_("Not collected in time"),
                        goods_returned=True, fresh=True)
        release(pickup_id, now, actor)  # back on the store's shelf too
    return True


def remind_uncollected(pickup_id: int, now: datetime, actor: Actor) -> bool:
    with write_transaction():
        won = db.session.execute(
            update(Pickup).where(Pickup.id == pickup_id, Pickup.status == READY, Pickup.reminded_at.is_(None))
            .values(reminded_at=now).execution_options(synchronize_session=False)).rowcount
        if won != 1:
            return False
        pickup = db.session.get(Pickup, pickup_id, populate_existing=True)
        order = db.session.get(Order, pickup.order_id, populate_existing=True)
        record_event(order, "pickup_reminder", actor=actor, source=SOURCE, data={"reference": pickup.reference})
        _notify(order, "store_pickup_reminder", _reminder_text(order, pickup))
    return True


def _release_one(pickup_id: int, now: datetime, actor: Actor) -> bool:
    with write_transaction():
        return release(pickup_id, now, actor)


def _collected_elsewhere(pickup_id: int, now: datetime, actor: Actor) -> bool:
    # The order was completed through the core while the plugin was off: the goods
    # left with the buyer, so the pickup is collected (its store stock stays taken).
    with write_transaction():
        won = db.session.execute(
            update(Pickup).where(Pickup.id == pickup_id, Pickup.status.in_(OPEN_STATUSES))
            .values(status=COLLECTED, open_code=None, collected_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if won != 1:
            return False
        pickup = db.session.get(Pickup, pickup_id, populate_existing=True)
        record_event(db.session.get(Order, pickup.order_id), "pickup_collected", actor=actor, source=SOURCE,
                     public=False, data={"reference": pickup.reference, "reconciled": True})
    return True


def reconcile(now: datetime, actor: Actor) -> dict[str, int]:
    counts = {"pickups_released": 0, "pickups_marked_collected": 0}
    closed = list(db.session.execute(
        select(Pickup.id).join(Order, Order.id == Pickup.order_id)
        .where(Pickup.released_at.is_(None), Pickup.status != COLLECTED,
               Order.status == OrderStatus.CLOSED).order_by(Pickup.id)).scalars())
    completed = list(db.session.execute(
        select(Pickup.id).join(Order, Order.id == Pickup.order_id)
        .where(Pickup.status.in_(OPEN_STATUSES), Order.status == OrderStatus.COMPLETED)
        .order_by(Pickup.id)).scalars())
    db.session.commit()
    for pickup_id in closed:
        counts["pickups_released"] += _release_one(pickup_id, now, actor)
    for pickup_id in completed:
        counts["pickups_marked_collected"] += _collected_elsewhere(pickup_id, now, actor)
    return counts


def sweep(now: datetime) -> dict[str, int]:
    conf = services.settings()
    actor = Actor.system(ACTOR_LABEL)
    cancel_before = now - timedelta(days=int(conf["cancel_after_days"]))
    remind_before = now - timedelta(days=int(conf["remind_after_days"]))
    counts = {"pickups_cancelled": 0, "pickups_reminded": 0}
    due = list(db.session.execute(select(Pickup.id).where(
        Pickup.status == READY, Pickup.ready_at < cancel_before).order_by(Pickup.id)).scalars())
    db.session.commit()
    for pickup_id in due:
        try:
            counts["pickups_cancelled"] += cancel_uncollected(pickup_id, now, actor)
        except ServiceError:
            continue  # the order moved on meanwhile (collected, refunded): nothing to do
    remind = list(db.session.execute(select(Pickup.id).where(
        Pickup.status == READY, Pickup.reminded_at.is_(None), Pickup.ready_at < remind_before)
        .order_by(Pickup.id)).scalars())
    db.session.commit()
    for pickup_id in remind:
        counts["pickups_reminded"] += remind_uncollected(pickup_id, now, actor)
    counts.update(reconcile(now, actor))
    return counts

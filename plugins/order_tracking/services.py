"""Parcels and parcel events: created on shipment, by staff, or by the aggregator's webhook.

Every write runs in one ``write_transaction``; the parcel's ``last_event_at``
and ``delivered_at`` move only by conditional UPDATEs, so a redelivered or
concurrent push cannot record "delivered" on the order timeline twice.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from storefront import joined_rows
from storefront.audit.services import record as audit
from storefront.clock import utcnow
from storefront.database import write_transaction
from storefront.errors import Forbidden, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.services import validate_tracking
from storefront.orders.status import OrderStatus
from storefront.orders.transitions import Actor, record_event
from storefront.plugins.host import get_host

from .carriers import carrier_for_code, carrier_for_name, seed_preset
from .models import STATUSES, Carrier, Parcel, ParcelEvent

PLUGIN_NAME = "order_tracking"
DEFAULT_SETTINGS = {"webhook_secret": "", "stuck_days": 3, "signed_link_days": 30}
TRACKED_STATUSES = (OrderStatus.SHIPPED, OrderStatus.COMPLETED)
#: Pushed event times may be a little ahead of our clock, not days.
FUTURE_SLACK = timedelta(hours=1)


def settings() -> dict:
    values = dict(DEFAULT_SETTINGS)
    values.update(get_host().settings(PLUGIN_NAME))
    return values


def _require_staff(user) -> Actor:
    if user is None or not getattr(user, "is_staff", False):
        raise Forbidden(_("Staff only."))
    return Actor.of(user)


def parcels_of(order_id: int) -> list[Parcel]:
    """The order's parcels with their events, as a selectin load would load them (a parcel
    whose events this session holds keeps them). Read in Core, the statements built once:
    the ORM's loading was a fifth of the buyer's tracking page."""
    parcels = joined_rows.scalars(_parcels_query(), {"order_id": order_id})
    joined_rows.load_collection(parcels, Parcel.events)
    return parcels


@functools.cache
def _parcels_query():
    return select(Parcel).where(Parcel.order_id == bindparam("order_id")).order_by(Parcel.id)


def get_parcel(parcel_id: int) -> Parcel:
    parcel = db.session.get(Parcel, int(parcel_id))
    if parcel is None:
        raise NotFound(_("Parcel not found."))
    return parcel


def _carrier_fields(carrier: Carrier | None, typed_name: str) -> tuple[str, str]:
    """(code, name) of a parcel's carrier: a registered one's, else the name as typed."""
    return (carrier.code, carrier.name) if carrier is not None else ("", typed_name)


def _new_parcel(order_id: int, carrier: tuple[str, str], tracking_number: str, at: datetime) -> Parcel:
    code, name = carrier
    parcel = Parcel(order_id=order_id, carrier_code=code, carrier_name=name, tracking_number=tracking_number,
                    created_at=at, last_event_at=at, last_status="")
    db.session.add(parcel)
    return parcel


def parcel_on_shipped(order: Order) -> Parcel | None:
    """The core's one carrier/tracking number becomes the order's first parcel (idempotent)."""
    if not order.tracking_number or not order.carrier:
        return None
    seed_preset()
    # Read before the write transaction, whose opening commit would expire the order and
    # reload it inside the write lock: the lock is held for the INSERT alone.
    order_id, carrier_name, tracking_number = order.id, order.carrier, order.tracking_number
    shipped_at = order.shipped_at or utcnow()
    existing = db.session.execute(select(Parcel).where(
        Parcel.order_id == order_id, Parcel.tracking_number == tracking_number)).scalar_one_or_none()
    if existing is not None:
        return existing
    carrier = _carrier_fields(carrier_for_name(carrier_name), carrier_name)
    try:
        with write_transaction():
            # Unique (order, tracking number): the same event handled twice at once fails here.
            return _new_parcel(order_id, carrier, tracking_number, shipped_at)
    except IntegrityError:
        return None


def add_parcel(order: Order, staff, carrier_code: str, tracking_number: str) -> Parcel:
    """A further parcel of a shipped order (multi-parcel shipments)."""
    _require_staff(staff)
    carrier = carrier_for_code(carrier_code)
    if carrier is None:
        raise ValidationFailed(_("Choose one of the registered carriers."), field="carrier")
    tracking_number = validate_tracking(tracking_number)
    if OrderStatus(order.status) not in TRACKED_STATUSES:
        raise ValidationFailed(_("Only shipped orders have parcels."), field="tracking_number")
    fields = _carrier_fields(carrier, carrier.name)  # before the commit that expires the carrier
    try:
        with write_transaction():
            if db.session.execute(select(Parcel.id).where(
                    Parcel.order_id == order.id, Parcel.tracking_number == tracking_number)).first():
                raise ValidationFailed(_("This order already has a parcel with that number."),
                                       field="tracking_number")
            parcel = _new_parcel(order.id, fields, tracking_number, utcnow())
            db.session.flush()
            audit(staff, "order_tracking.parcel_add", parcel, after={
                "order_number": order.number, "carrier": parcel.carrier_name, "tracking_number": tracking_number})
            return parcel
    except IntegrityError:
        raise ValidationFailed(_("This order already has a parcel with that number."), field="tracking_number")


def clean_event(data: dict) -> dict:
    """Checked event fields (shared by the staff form, the API and the webhook)."""
    status = data.get("status")
    if status not in STATUSES:
        raise ValidationFailed(_("Unknown status."), field="status")
    at = data.get("at")
    if not isinstance(at, datetime):
        raise ValidationFailed(_("Enter the event time."), field="at")
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    if at > utcnow() + FUTURE_SLACK or at.year < 2000:
        raise ValidationFailed(_("The event time is not plausible."), field="at")
    location = data.get("location") or ""
    description = data.get("description") or ""
    if not isinstance(location, str) or len(location) > 120:
        raise ValidationFailed(_("A location has at most 120 characters."), field="location")
    if not isinstance(description, str) or len(description) > 500:
        raise ValidationFailed(_("A description has at most 500 characters."), field="description")
    return {"at": at, "status": status, "location": location.strip(), "description": description.strip()}


def _store_event(parcel: Parcel, values: dict, *, source: str, external_id: str | None,
                 actor: Actor) -> ParcelEvent:
    """Inside the caller's write transaction."""
    event = ParcelEvent(parcel_id=parcel.id, source=source, external_id=external_id, **values)
    db.session.add(event)
    db.session.flush()  # a duplicate external id fails here, before anything else is written
    db.session.execute(update(Parcel).where(Parcel.id == parcel.id, Parcel.last_event_at < values["at"])
                       .values(last_event_at=values["at"]).execution_options(synchronize_session=False))
    db.session.execute(update(Parcel).where(Parcel.id == parcel.id, or_(Parcel.last_status_at.is_(None),
                                                                        Parcel.last_status_at <= values["at"]))
                       .values(last_status=values["status"], last_status_at=values["at"])
                       .execution_options(synchronize_session=False))
    if values["status"] == "delivered":
        first = db.session.execute(update(Parcel).where(Parcel.id == parcel.id, Parcel.delivered_at.is_(None))
                                   .values(delivered_at=values["at"])
                                   .execution_options(synchronize_session=False)).rowcount
        if first == 1:
            # Timeline only: completing the order stays with the core's auto-confirm. By id: a
            # day's deliveries arrive in thousands, each holding the write lock.
            record_event(parcel.order_id, "parcel_delivered", actor=actor, source=PLUGIN_NAME,
                         reason=_("Parcel %(number)s delivered", number=parcel.tracking_number),
                         data={"carrier": parcel.carrier_name, "tracking_number": parcel.tracking_number,
                               "location": values["location"]})
    return event


def add_event(parcel_id: int, staff, data: dict) -> ParcelEvent:
    actor = _require_staff(staff)
    values = clean_event(data)
    with write_transaction():
        parcel = get_parcel(parcel_id)
        event = _store_event(parcel, values, source="staff", external_id=None, actor=actor)
        audit(staff, "order_tracking.event_add", event, after={
            "parcel_id": parcel.id, "status": values["status"], "at": values["at"].isoformat(),
            "location": values["location"]})
    return event


def stuck_parcels(now: datetime | None = None, after_id: int | None = None, limit: int = 50,
                  days: int | None = None) -> tuple[list[Parcel], int | None]:
    """Undelivered parcels of shipped orders with no event for ``stuck_days`` (keyset by id)."""
    days = int(settings()["stuck_days"] if days is None else days)
    cutoff = (now or utcnow()) - timedelta(days=days)
    stmt = (select(Parcel).join(Order, Order.id == Parcel.order_id)
            .where(Parcel.last_event_at < cutoff, Parcel.delivered_at.is_(None),
                   Order.status == OrderStatus.SHIPPED)
            .options(contains_eager(Parcel.order)).order_by(Parcel.id).limit(limit + 1))
    if after_id:
        stmt = stmt.where(Parcel.id > after_id)
    rows = list(db.session.execute(stmt).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def is_stuck(parcel: Parcel, now: datetime | None = None) -> bool:
    days = int(settings()["stuck_days"])
    return parcel.delivered_at is None and parcel.last_event_at < (now or utcnow()) - timedelta(days=days)

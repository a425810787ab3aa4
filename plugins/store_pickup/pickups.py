"""A pickup after placing: ready (code), counter verification, release on close.

The sweeps (reminder, uncollected, reconciliation) are in :mod:`.sweeps`.

Order statuses move only through the core's ``transition()``: "ready" is the
core's paid -> shipped (carrier "Store pickup", tracking = pickup reference,
no auto-confirm deadline, so only the hand-over or the uncollected sweep ends
it) and the hand-over is shipped -> completed. Every pickup status change is
a conditional UPDATE on the pickup's own status, so each happens once.
"""
from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import IntegrityError, MultipleResultsFound
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from storefront import joined_rows
from storefront.audit.services import record as audit
from storefront.clock import utcnow
from storefront.database import write_transaction
from storefront.errors import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.notify.services import add_prepared_message, prepare_order_message, queue_order_message
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.orders.transitions import Actor, record_event, transition

from . import services
from . import stock as stocklib
from .models import CANCELLED, COLLECTED, OPEN_STATUSES, PREPARING, READY, Location, Pickup, VerifyAttempts

CARRIER = "Store pickup"
CODE_DIGITS = 8
SOURCE = services.PLUGIN_NAME


class TooManyAttempts(ServiceError):
    code = "too_many_attempts"
    status = 429


def new_code() -> str:
    """8 random digits from the CSPRNG: typed easily at a counter, 10^8 possibilities."""
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def _staff(user) -> Actor:
    if user is None or not getattr(user, "is_staff", False):
        raise Forbidden(_("Staff only."))
    return Actor.of(user)


_PICKUP_ROWS = joined_rows.JoinedEntities(Pickup, Location)


@functools.cache
def _pickup_for_order_query():
    # Every order page asks: built once, read in Core with its store as a joined load would.
    pickup, location = Pickup.__table__, Location.__table__
    return (select(*_PICKUP_ROWS.columns).select_from(pickup.outerjoin(location, location.c.id == pickup.c.location_id))
            .where(pickup.c.order_id == bindparam("order_id")))


def pickup_for_order(order_id: int) -> Pickup | None:
    session = db.session()
    rows = joined_rows.read(session, _pickup_for_order_query(), {"order_id": order_id})
    if len(rows) > 1:
        raise MultipleResultsFound("an order has one pickup")
    if not rows:
        return None
    pickup, location = _PICKUP_ROWS.objects(session, rows[0])
    joined_rows.link(pickup, "location", location)
    return pickup


def get_pickup(pickup_id) -> Pickup:
    try:
        row = db.session.get(Pickup, int(pickup_id))
    except (TypeError, ValueError):
        row = None
    if row is None:
        raise NotFound(_("No such pickup."))
    return row


def can_see_code(pickup: Pickup, user) -> bool:
    """The code is shown only to the order's buyer and to staff."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(getattr(user, "is_staff", False)) or pickup.order.user_id == user.id


# -- notifications ------------------------------------------------------------------------
def _notify(order: Order, kind: str, subject_body) -> None:
    queue_order_message(order, kind, subject_body)


def _ready_text(order: Order, location, code: str):
    def render():
        subject = _("Order %(number)s is ready for pickup", number=order.number)
        body = _("Your order %(number)s is ready at %(store)s (%(address)s). Show pickup code %(code)s "
                 "at the counter.", number=order.number, store=location.name,
                 address=location.address, code=code) + "\n"
        return subject, body
    return render


def _reminder_text(order: Order, pickup: Pickup):
    def render():
        subject = _("Reminder: order %(number)s is waiting for you", number=order.number)
        body = _("Your order %(number)s is still waiting at %(store)s. Please collect it soon, or it will "
                 "be cancelled and refunded.", number=order.number, store=pickup.location.name) + "\n"
        return subject, body
    return render


# -- ready ----------------------------------------------------------------------------------
def _assign_code(pickup: Pickup, now: datetime, code: str) -> str:
    """Give the pickup being prepared ``code``, or a new draw while an open pickup holds it;
    what was written is mirrored on ``pickup`` instead of being read back."""
    for _attempt in range(5):
        values = {"status": READY, "code": code, "open_code": code, "ready_at": now}
        try:
            with db.session.begin_nested():  # a collision rolls back only this statement
                result = db.session.execute(
                    update(Pickup).where(Pickup.id == pickup.id, Pickup.status == PREPARING)
                    .values(**values).execution_options(synchronize_session=False))
        except IntegrityError:
            code = new_code()  # another open pickup has this code: draw again
            continue
        if result.rowcount != 1:
            raise Conflict(_("This pickup is no longer being prepared."), code="pickup_not_preparing")
        for key, value in values.items():
            set_committed_value(pickup, key, value)
        return code
    raise Conflict(_("Could not draw a unique pickup code; try again."), code="retry")  # pragma: no cover


def mark_ready(pickup_id, staff) -> Pickup:
    """Staff: the order is packed at the store. Draws the code, ships the order, tells the buyer."""
    actor = _staff(staff)
    # Read, checked and the buyer's message rendered before the write lock, which buyers
    # checking out wait for while a store marks a sale's orders ready. Inside, the pickup's
    # and the order's conditional UPDATEs decide again: whatever moved meanwhile is refused.
    pickup = get_pickup(pickup_id)
    order = db.session.get(Order, pickup.order_id)
    location = pickup.location
    if OrderStatus(order.status) != OrderStatus.PAID or pickup.status != PREPARING:
        raise Conflict(_("Only a paid order that is being prepared can be marked ready."),
                       code="pickup_not_ready_able")
    now = utcnow()
    drawn = new_code()
    message = prepare_order_message(order, "store_pickup_ready", _ready_text(order, location, drawn))
    with write_transaction(keep=(pickup, order, location)):
        code = _assign_code(pickup, now, drawn)
        if code != drawn:
            message = prepare_order_message(order, "store_pickup_ready", _ready_text(order, location, code))
        transition(order, OrderStatus.SHIPPED, actor=actor, reason=f"{CARRIER} {pickup.reference}",
                   values={"carrier": CARRIER, "tracking_number": pickup.reference, "auto_confirm_at": None},
                   data={"carrier": CARRIER, "tracking_number": pickup.reference, "pickup": "ready"},
                   source=SOURCE, expected=OrderStatus.PAID)
        record_event(order, "pickup_ready", actor=actor, source=SOURCE,
                     data={"location_id": pickup.location_id, "store": location.name,
                           "reference": pickup.reference})
        add_prepared_message(message)
    return pickup


def mark_ready_many(pickup_ids, staff) -> tuple[int, list[str]]:
    """Bulk "ready": each pickup in its own transaction; returns (done, error messages)."""
    _staff(staff)
    done, errors = 0, []
    for pickup_id in pickup_ids:
        try:
            mark_ready(pickup_id, staff)
            done += 1
        except ServiceError as exc:
            errors.append(f"#{pickup_id}: {exc.message}")
    return done, errors


# -- counter verification ------------------------------------------------------------------
def _attempts_row(user_id: int, location_id: int) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(VerifyAttempts).values(user_id=user_id, location_id=location_id, failures=0)
                       .on_conflict_do_nothing(index_elements=["user_id", "location_id"]))


def _locked_until(user_id: int, location_id: int, now: datetime) -> datetime | None:
    until = db.session.execute(select(VerifyAttempts.locked_until).where(
        VerifyAttempts.user_id == user_id, VerifyAttempts.location_id == location_id)).scalar()
    return until if until is not None and until > now else None


def _record_failure(staff, location_id: int) -> None:
    conf = services.settings()
    user_id = staff.id
    with write_transaction():
        now = utcnow()
        # Wrong codes leave a trace: guessing at a counter shows up in the audit log.
        audit(staff, "store_pickup.wrong_code", object_type="store_pickup_location", object_id=str(location_id))
        _attempts_row(user_id, location_id)
        db.session.execute(text("UPDATE store_pickup_verify_attempts SET failures = failures + 1 "
                                "WHERE user_id = :u AND location_id = :l"), {"u": user_id, "l": location_id})
        failures = db.session.execute(select(VerifyAttempts.failures).where(
            VerifyAttempts.user_id == user_id, VerifyAttempts.location_id == location_id)).scalar()
        if failures >= int(conf["max_wrong_codes"]):
            db.session.execute(update(VerifyAttempts).where(
                VerifyAttempts.user_id == user_id, VerifyAttempts.location_id == location_id)
                .values(failures=0, locked_until=now + timedelta(minutes=int(conf["lockout_minutes"]))))


def verify_code(location_id, code: str, staff) -> Pickup:
    """Staff at a counter enter a code: the matching ready pickup is handed over, exactly once.

    Wrong codes count per staff member and location; after ``max_wrong_codes``
    the counter is locked for ``lockout_minutes`` (TooManyAttempts).
    """
    actor = _staff(staff)
    location = services.get_location(location_id)
    code = "".join((code or "").split())
    if _locked_until(staff.id, location.id, utcnow()) is not None:
        raise TooManyAttempts(_("Too many wrong codes. Try again later."))
    if not code.isdigit() or len(code) != CODE_DIGITS:
        _record_failure(staff, location.id)
        raise ValidationFailed(_("A pickup code has %(n)s digits.", n=CODE_DIGITS), field="code")
    pickup_id = db.session.execute(select(Pickup.id).where(
        Pickup.open_code == code, Pickup.location_id == location.id, Pickup.status == READY)).scalar()
    db.session.commit()
    if pickup_id is None:
        _record_failure(staff, location.id)
        raise NotFound(_("No order is waiting with this code here."), code="pickup_code_unknown", field="code")
    with write_transaction():
        now = utcnow()
        # The one door for the hand-over: only one concurrent submission can win it.
        won = db.session.execute(
            update(Pickup).where(Pickup.id == pickup_id, Pickup.status == READY, Pickup.open_code == code)
            .values(status=COLLECTED, open_code=None, collected_at=now, collected_by=staff.id)
            .execution_options(synchronize_session=False)).rowcount
        if won != 1:
            raise Conflict(_("This order was already handed over."), code="pickup_already_collected",
                           field="code")
        db.session.execute(update(VerifyAttempts).where(
            VerifyAttempts.user_id == staff.id, VerifyAttempts.location_id == location.id).values(failures=0))
        pickup = db.session.get(Pickup, pickup_id, populate_existing=True)
        order = db.session.get(Order, pickup.order_id, populate_existing=True)
        audit(staff, "store_pickup.handed_over", order, object_type="order",
              after={"pickup": pickup.reference, "location_id": location.id})
        record_event(order, "pickup_collected", actor=actor, source=SOURCE,
                     data={"location_id": location.id, "store": location.name, "reference": pickup.reference})
        if OrderStatus(order.status) == OrderStatus.SHIPPED:
            transition(order, OrderStatus.COMPLETED, actor=actor, data={"pickup": "collected"}, source=SOURCE)
    return pickup


# -- closing --------------------------------------------------------------------------------
def release(pickup_id: int, now: datetime, actor: Actor | None = None) -> bool:
    """Give back the slot place and the store stock of a pickup whose order closed before
    collection, and cancel it. Call inside a write transaction.

    The conditional UPDATE on ``released_at`` is the one door: whoever runs it
    (the closed-order event, the uncollected sweep, the reconciliation after the
    plugin was off), the place and the stock come back exactly once.
    """
    won = db.session.execute(
        update(Pickup).where(Pickup.id == pickup_id, Pickup.released_at.is_(None), Pickup.status != COLLECTED)
        .values(released_at=now).execution_options(synchronize_session=False)).rowcount
    if won != 1:
        return False
    db.session.execute(
        update(Pickup).where(Pickup.id == pickup_id, Pickup.status.in_(OPEN_STATUSES))
        .values(status=CANCELLED, open_code=None, cancelled_at=now).execution_options(synchronize_session=False))
    pickup = db.session.get(Pickup, pickup_id, populate_existing=True)
    services.give_slot_back(pickup.location_id, pickup.slot_start)
    stocklib.give_back(pickup.location_id, pickup.stock_lines)
    order = db.session.get(Order, pickup.order_id)
    record_event(order, "pickup_released", actor=actor or Actor.system("store pickup"), source=SOURCE,
                 public=False, data={"reference": pickup.reference, "stock_lines": pickup.stock_lines or []})
    return True


def release_for_closed_order(order_id: int) -> bool:
    """The order closed (unpaid timeout, cancellation, refund): free its pickup's slot and stock, once."""
    # Most orders go by courier: a plain read finds no pickup to free without taking the
    # write lock. A pickup is written with its order, so one not found now never appears;
    # the conditional UPDATE in release() stays the one door for those that exist.
    pending = db.session.execute(select(Pickup.id).where(Pickup.order_id == order_id,
                                                         Pickup.released_at.is_(None))).first()
    if pending is None:
        return False
    with write_transaction():
        row = db.session.execute(select(Pickup.id, Order.status).join(Order, Order.id == Pickup.order_id)
                                 .where(Pickup.order_id == order_id)).first()
        if row is None or OrderStatus(row.status) != OrderStatus.CLOSED:
            return False
        return release(row.id, utcnow())


# -- counter screen --------------------------------------------------------------------------
def pickups_for_day(location_id: int, day_start: datetime, day_end: datetime) -> list[Pickup]:
    return list(db.session.execute(
        select(Pickup).options(joinedload(Pickup.order))
        .where(Pickup.location_id == location_id, Pickup.slot_start >= day_start, Pickup.slot_start < day_end)
        .order_by(Pickup.slot_start, Pickup.id)).scalars())


def open_pickups(location_id: int | None = None, limit: int = 200) -> list[Pickup]:
    stmt = (select(Pickup).options(joinedload(Pickup.order), joinedload(Pickup.location))
            .where(Pickup.status.in_(OPEN_STATUSES)).order_by(Pickup.slot_start, Pickup.id).limit(limit))
    if location_id is not None:
        stmt = stmt.where(Pickup.location_id == location_id)
    return list(db.session.execute(stmt).scalars())

"""The one door through which an order's status changes (ARCHITECTURE.md principle 4)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value

from .. import joined_rows
from ..clock import utcnow
from ..database import after_commit, get_by_pk, insert_loaded
from ..errors import ConcurrentUpdate, InvalidTransition, TransitionVetoed
from ..extensions import db
from ..i18n import gettext as _
from ..plugins.host import flatten, get_host
from ..plugins.types import OrderEventInfo
from .display import status_label
from .models import Order, OrderEvent
from .status import TRANSITIONS, OrderStatus


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a buyer, a staff member, a guest or the system (a rule or sweep)."""

    kind: str  # buyer | staff | system | guest
    user_id: int | None = None
    label: str = ""

    @classmethod
    def of(cls, user) -> "Actor":
        if user is None or not getattr(user, "is_authenticated", False):
            return cls("guest", None, "guest")
        return cls("staff" if user.is_staff else "buyer", user.id, user.email)

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls("system", None, label)


SYSTEM = Actor.system()

_TIMESTAMP_FOR = {
    OrderStatus.PAID: "paid_at",
    OrderStatus.SHIPPED: "shipped_at",
    OrderStatus.COMPLETED: "completed_at",
    OrderStatus.CLOSED: "closed_at",
}


def can_transition(from_status: OrderStatus, to: OrderStatus) -> bool:
    return to in TRANSITIONS[OrderStatus(from_status)]


def transition(order: Order, to: OrderStatus, *, actor: Actor, reason: str = "",
               values: dict[str, Any] | None = None, data: dict | None = None,
               source: str = "core", expected: OrderStatus | str | None = None,
               paying: int | None = None) -> OrderEvent | None:
    """Move ``order`` to ``to`` inside the caller's transaction.

    Checks the transition table, asks ``transition_guard``, writes the status
    with a conditional UPDATE (so two concurrent transitions cannot both
    win), appends one timeline event and queues ``order_event`` for after
    commit. ``values`` are extra columns written in the same UPDATE.

    ``expected`` is the status the caller's decision was based on (the one
    the staff member saw, read before ``write_transaction`` refreshed the
    order). When the order has moved on since, :class:`ConcurrentUpdate` is
    raised instead of applying the change to a state nobody looked at --
    e.g. a "cancel" clicked on a paid order must not close it once shipped.

    ``paying`` is a payment's share that completes the order (``to`` is paid):
    the same UPDATE adds it to ``paid_total`` and also requires that it still
    completes the order. When it does not (another payment, a close, arrived
    meanwhile) nothing is written and None is returned: the caller applies the
    share the general way.
    """
    to = OrderStatus(to)
    current = OrderStatus(order.status)
    if expected is not None and OrderStatus(expected) != current:
        raise ConcurrentUpdate(
            _("The order changed meanwhile (it is now %(status)s).", status=status_label(current)),
            details={"from": OrderStatus(expected).value, "to": to.value, "current": current.value},
        )
    if not can_transition(current, to):
        raise InvalidTransition(
            _("An order that is %(status)s cannot become %(to)s.", status=status_label(current), to=status_label(to)),
            details={"from": current.value, "to": to.value},
        )
    host = get_host()
    paid_total = order.paid_total
    if paying is not None:  # the guards see the order as the payment leaves it
        set_committed_value(order, "paid_total", paid_total + paying)
    try:
        vetoes = [str(v) for v in flatten(host.hook.transition_guard(obj=order, to=to, actor=actor))]
    finally:
        set_committed_value(order, "paid_total", paid_total)
    if vetoes:
        raise TransitionVetoed("; ".join(vetoes), details={"from": current.value, "to": to.value})

    now = utcnow()
    changes: dict[str, Any] = {"status": to}
    if to in _TIMESTAMP_FOR:
        changes[_TIMESTAMP_FOR[to]] = now
    changes.update(values or {})
    keys = tuple(sorted(changes))
    params = {"order_id": order.id, "from_status": current, **{f"new_{key}": changes[key] for key in keys}}
    if paying is not None:
        params["paying"] = paying
    result = joined_rows.run(db.session(), _status_update(keys, paying is not None), params)
    if result.rowcount != 1 and paying is not None:
        return None
    if result.rowcount != 1:
        db.session.refresh(order)
        raise ConcurrentUpdate(
            _("The order changed meanwhile (it is now %(status)s).", status=status_label(order.status)),
            details={"from": current.value, "to": to.value},
        )
    # The row is written; mirror it on the object without making it dirty.
    for key, value in changes.items():
        set_committed_value(order, key, value)
    if paying is not None:
        set_committed_value(order, "paid_total", order.total)  # the UPDATE required exactly that
    event = record_event(order, "status", actor=actor, reason=reason, from_status=current,
                         to_status=to, data=data, source=source, at=now)
    return event


@functools.cache
def _status_update(keys: tuple[str, ...], paying: bool = False):
    # One statement per set of columns written, built once: a payment moves its order to
    # paid while holding the write lock, and building and keying the UPDATE cost 60 µs.
    # Run on the connection (joined_rows.run): through the session it is keyed anew each time.
    stmt = update(Order).where(Order.id == bindparam("order_id"), Order.status == bindparam("from_status"))
    values: dict[str, Any] = {key: bindparam(f"new_{key}") for key in keys}
    if paying:
        stmt = stmt.where(Order.paid_total + bindparam("paying") == Order.total)
        values["paid_total"] = Order.paid_total + bindparam("paying")
    return stmt.values(values).execution_options(synchronize_session=False)


def record_event(order: Order | int, kind: str, *, actor: Actor, reason: str = "",
                 from_status: OrderStatus | None = None, to_status: OrderStatus | None = None,
                 data: dict | None = None, source: str = "core", public: bool = True,
                 at=None) -> OrderEvent:
    """Append a timeline entry and queue ``order_event`` for after commit.

    ``order``: the order, or only its id (nothing else of it is read), so that a
    writer holding the write lock need not load an order just to note an event."""
    order_id = order if isinstance(order, int) else order.id
    # Written at once (Core, no flush): every checkout and payment records an event while
    # holding the write lock that every other writer waits for.
    (event,) = insert_loaded(OrderEvent, dict(
        order_id=order_id,
        kind=kind,
        actor_kind=actor.kind,
        actor_id=actor.user_id,
        actor_label=actor.label,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value if to_status else None,
        reason=reason or "",
        source=source,
        public=public,
        data=data or {},
        at=at or utcnow(),
    ))
    info = OrderEventInfo(
        order_id=order_id, kind=kind,
        from_status=event.from_status, to_status=event.to_status,
        reason=event.reason, actor_kind=actor.kind, at=event.at,
    )
    app_host = get_host()

    def _notify() -> None:
        fresh = get_by_pk(Order, info.order_id)
        if fresh is not None:
            app_host.call_safely("order_event", order=fresh, event=info)

    after_commit(_notify)
    return event

"""Shared plumbing of the cases side: settings, lookups, the one status-change
door for cases, and the two timelines (the case's own and the order's public one).

Every case status change goes through :func:`move`: a conditional
``UPDATE aftersales_cases SET status = :to WHERE id = :id AND status IN (...)``
whose rowcount is checked, then one ``aftersales_events`` row with the actor
and one public order timeline event ``aftersales_<what>``.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from storefront import joined_rows
from storefront.audit.services import record as audit
from storefront.clock import utcnow
from storefront.database import for_update
from storefront.errors import ConcurrentUpdate, Forbidden, NotFound
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.transitions import Actor, record_event

from .forms import DEFAULT_SETTINGS
from .models import (APPROVED, ARRIVED, AWAITING_RETURN, CANCELLED, CLOSED, INSPECTED, OPEN_STATUSES, REFUNDED,
                     REJECTED, RESHIPPED, RETURNING, Case, CaseEvent, CaseMessage)

PLUGIN_NAME = "aftersales"

#: Statuses whose arrival stamps a timestamp column of the case.
_STAMP = {
    APPROVED: "approved_at",
    AWAITING_RETURN: "approved_at",
    RETURNING: "buyer_shipped_at",
    ARRIVED: "arrived_at",
    INSPECTED: "inspected_at",
    REFUNDED: "refunded_at",
}
_COMPLETED = (REFUNDED, RESHIPPED)
_ENDED = (REJECTED, CANCELLED, CLOSED)


def settings() -> dict[str, Any]:
    from storefront.plugins.host import get_host

    return {**DEFAULT_SETTINGS, **(get_host().settings(PLUGIN_NAME) or {})}


def setting_int(key: str) -> int:
    try:
        return int(settings().get(key) or 0)
    except (TypeError, ValueError):
        return int(DEFAULT_SETTINGS.get(key) or 0)


# -- lookups ------------------------------------------------------------------------------
def get_case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(_("Request not found."))
    return case


def get_case_by_number(number: str) -> Case:
    case = db.session.execute(select(Case).where(Case.number == str(number or "")[:32])).scalar_one_or_none()
    if case is None:
        raise NotFound(_("Request not found."))
    return case


def case_for_buyer(number: str, user) -> Case:
    """The buyer's own case; another buyer's answers NotFound, never Forbidden."""
    case = get_case_by_number(number)
    if user is None or not getattr(user, "is_authenticated", False) or case.user_id != user.id:
        raise NotFound(_("Request not found."))
    return case


def open_case_for_order(order_id: int) -> Case | None:
    return db.session.execute(
        select(Case).where(Case.order_id == order_id, Case.status.in_(OPEN_STATUSES)).limit(1)
    ).scalar_one_or_none()


def has_open_case(order_id: int) -> bool:
    return db.session.execute(
        select(Case.id).where(Case.order_id == order_id, Case.status.in_(OPEN_STATUSES)).limit(1)
    ).first() is not None


def cases_of_order(order_id: int) -> list[Case]:
    return joined_rows.scalars(_cases_of_order_query(), {"order_id": order_id})


@functools.cache
def _cases_of_order_query():
    # Every order page asks: built once, read in Core (storefront.joined_rows).
    return select(Case).where(Case.order_id == bindparam("order_id")).order_by(Case.id)


def events_of(case: Case) -> list[CaseEvent]:
    return events_by_case([case.id])[case.id]


def events_by_case(case_ids: Iterable[int]) -> dict[int, list[CaseEvent]]:
    """The timelines of several requests in one statement, oldest event first."""
    return _by_case(CaseEvent, case_ids)


def messages_by_case(case_ids: Iterable[int]) -> dict[int, list[CaseMessage]]:
    """The conversations of several requests in one statement, oldest message first."""
    return _by_case(CaseMessage, case_ids)


def _by_case(model, case_ids: Iterable[int]) -> dict[int, list]:
    ids = list(case_ids)
    found: dict[int, list] = {case_id: [] for case_id in ids}
    if ids:
        for row in db.session.execute(select(model).where(model.case_id.in_(ids)).order_by(model.id)).scalars():
            found[row.case_id].append(row)
    return found


def load_orders_and_lines(cases: list[Case]) -> None:
    """Fill the order and the lines of requests already loaded, for all of them in one go
    (a list shows both for each request)."""
    if cases:
        db.session.execute(select(Case).where(Case.id.in_([c.id for c in cases]))
                           .options(joinedload(Case.order), selectinload(Case.lines))).unique().all()


# -- actors -------------------------------------------------------------------------------
def require_staff(user) -> Actor:
    if user is None or not getattr(user, "is_staff", False):
        raise Forbidden(_("Staff only."))
    return Actor.of(user)


def require_decider(case: Case, user) -> Actor:
    """Staff decide a case; an escalated one (second request after a rejection) only the owner."""
    actor = require_staff(user)
    if case.escalated and not getattr(user, "is_owner", False):
        raise Forbidden(_("This request was escalated: only the shop owner can decide it."),
                        code="escalated_owner_only")
    return actor


def rule_actor(rule: str) -> Actor:
    return Actor.system(f"auto rule: {rule}")


# -- the one door for status changes -------------------------------------------------------
def log(case: Case, kind: str, actor: Actor, *, note: str = "", from_status: str | None = None,
        to_status: str | None = None, data: dict | None = None, public: bool = True,
        order: Order | None = None, before: dict | None = None, after: dict | None = None) -> CaseEvent:
    """One case event, mirrored on the order timeline as ``aftersales_<kind>`` when public.

    A staff member's event is also written to the shop's audit log (``before`` /
    ``after`` override what it records; by default the status moved and ``data``).
    """
    now = utcnow()
    event = CaseEvent(case_id=case.id, at=now, kind=kind, actor_kind=actor.kind, actor_id=actor.user_id,
                      actor_label=actor.label[:120], from_status=from_status, to_status=to_status,
                      note=note or "", data=data or {})
    db.session.add(event)
    if actor.kind == "staff":
        _audit_staff_event(case, kind, actor, note, from_status, to_status, data, before, after)
    if public:
        order = order or db.session.get(Order, case.order_id)
        record_event(order, f"aftersales_{kind}", actor=actor, reason=(note or "")[:500],
                     source=PLUGIN_NAME, public=True,
                     data={"case": case.number, "case_kind": case.kind, "status": to_status or case.status,
                           **(data or {})})
    return event


def _audit_staff_event(case: Case, kind: str, actor: Actor, note: str, from_status: str | None,
                       to_status: str | None, data: dict | None, before: dict | None,
                       after: dict | None) -> None:
    # Every staff decision on a case passes through log(), in the transaction
    # of the change: auditing here covers the HTML pages and the API alike.
    if before is None and from_status is not None:
        before = {"status": from_status}
    if after is None:
        after = {**({"status": to_status} if to_status else {}), **(data or {})}
    else:
        after = dict(after)
    if note:
        after["note"] = note[:500]
    audit(actor, f"aftersales.{kind}", case, object_type="aftersales_case",
          before=before, after=after or None)


def move(case: Case, from_statuses: Iterable[str], to: str, actor: Actor, kind: str, *,
         note: str = "", values: dict | None = None, data: dict | None = None) -> CaseEvent:
    """Change ``case`` to ``to`` if it is still in one of ``from_statuses`` (else ConcurrentUpdate)."""
    allowed = tuple(from_statuses)
    now = utcnow()
    changes: dict[str, Any] = {"status": to, "updated_at": now}
    if to in _STAMP:
        changes[_STAMP[to]] = now
    if to in _COMPLETED:
        changes["completed_at"] = now
    if to in _ENDED:
        changes["closed_at"] = now
    changes.update(values or {})
    result = db.session.execute(
        update(Case).where(Case.id == case.id, Case.status.in_(allowed)).values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(case)
        raise ConcurrentUpdate(_("This request changed meanwhile (it is now %(status)s). Reload and try again.",
                                 status=case.status), details={"status": case.status, "to": to})
    before = case.status if case.status in allowed else allowed[0]
    # The row is written; mirror it on the object instead of reading it back inside the
    # write transaction (the conditional UPDATE above was the check).
    for key, value in changes.items():
        set_committed_value(case, key, value)
    if actor.kind == "staff":
        mark_first_response(case, now)
    return log(case, kind, actor, note=note, from_status=before, to_status=to, data=data)


def mark_first_response(case: Case, now=None) -> None:
    """The first staff reaction (a decision or a message) ends the 5-minute response clock."""
    db.session.execute(
        update(Case).where(Case.id == case.id, Case.first_response_at.is_(None))
        .values(first_response_at=now or utcnow()).execution_options(synchronize_session=False)
    )


def lock_order(order_id: int) -> Order | None:
    """Inside a write transaction: the order row, locked on PostgreSQL (SQLite's
    BEGIN IMMEDIATE already serialises writers), so case creation per order is one at a time."""
    return db.session.execute(for_update(select(Order).where(Order.id == order_id))).scalar_one_or_none()

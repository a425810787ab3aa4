"""The staff queue: filters, response targets and what is overdue against them.

Targets (DOMAIN.md §6): a first answer to a new request within 5 minutes, a
logistics case (parcel not received, late) resolved within 48 hours; both are
settings. Overdue is decided in SQL so the filter works on a long queue.

Pages continue after the last case shown (``after=<case id>``, keyset on
``(created_at, id)``), so a deep page costs what the first one does; OFFSET
(``page``) is kept only for the API's existing clients. The dashboard's
counts stop at :data:`COUNT_CAP`: past that, "1000+" says enough and no view
counts a long queue row by row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, bindparam, func, or_, select, tuple_

from storefront.clock import utcnow
from storefront.errors import ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _

from .models import CATEGORIES, KINDS, OPEN_STATUSES, REASONS, REQUESTED, STATUSES, Case
from .services import setting_int

PAGE = 50
COUNT_CAP = 1000
LOGISTICS_REASONS = ("not_received", "late_shipment")


@dataclass(frozen=True)
class QueueFilters:
    kind: str = ""
    status: str = ""  # "" = open ones, "all" = every status
    reason: str = ""
    category: str = ""
    assignee: str = ""  # "" any, "none", or a staff user id
    overdue: bool = False
    escalated: bool = False
    page: int = 1  # the API's OFFSET pages
    after: int | None = None  # keyset: continue after this case

    @classmethod
    def from_args(cls, args) -> "QueueFilters":
        def pick(name, allowed):
            value = str(args.get(name) or "")
            if value and value not in allowed:
                raise ValidationFailed(_("Unknown filter value."), field=name)
            return value

        assignee = str(args.get("assignee") or "")
        if assignee not in ("", "none") and not assignee.isdigit():
            raise ValidationFailed(_("Unknown filter value."), field="assignee")
        try:
            page = max(1, min(1000, int(args.get("page") or 1)))
        except ValueError:
            page = 1
        after = str(args.get("after") or "")
        return cls(kind=pick("kind", KINDS), status=pick("status", STATUSES + ("all",)),
                   reason=pick("reason", REASONS), category=pick("category", CATEGORIES), assignee=assignee,
                   overdue=str(args.get("overdue") or "") in ("1", "true", "on"),
                   escalated=str(args.get("escalated") or "") in ("1", "true", "on"), page=page,
                   after=int(after) if after.isdigit() else None)


def _is_open():
    # Literal values, not bind parameters: the planner must see the list to use the partial index
    # of open cases (ix_aftersales_cases_open_created_at_id), also in a generic prepared plan.
    return Case.status.in_(bindparam("open_statuses", list(OPEN_STATUSES), expanding=True, literal_execute=True))


def _overdue_clause(now):
    response_due = now - timedelta(minutes=setting_int("first_response_minutes"))
    logistics_due = now - timedelta(hours=setting_int("logistics_hours"))
    return and_(Case.status.in_(OPEN_STATUSES), or_(
        and_(Case.status == REQUESTED, Case.first_response_at.is_(None), Case.created_at < response_due),
        and_(or_(Case.category == "tracking", Case.reason.in_(LOGISTICS_REASONS)), Case.created_at < logistics_due),
    ))


def staff_queue(filters: QueueFilters, now=None) -> tuple[list[Case], bool]:
    """One page of cases (oldest open first), and whether there is a next page (continue after the last)."""
    now = now or utcnow()
    stmt = select(Case)
    if filters.status == "all":
        pass
    elif filters.status:
        stmt = stmt.where(Case.status == filters.status)
    else:
        stmt = stmt.where(_is_open())
    for column, value in ((Case.kind, filters.kind), (Case.reason, filters.reason),
                          (Case.category, filters.category)):
        if value:
            stmt = stmt.where(column == value)
    if filters.assignee == "none":
        stmt = stmt.where(Case.assignee_id.is_(None))
    elif filters.assignee:
        stmt = stmt.where(Case.assignee_id == int(filters.assignee))
    if filters.overdue:
        stmt = stmt.where(_overdue_clause(now))
    if filters.escalated:
        stmt = stmt.where(Case.escalated.is_(True))
    if filters.after:
        anchor = db.session.execute(select(Case.created_at).where(Case.id == filters.after)).scalar()
        if anchor is None:
            return [], False
        # A row comparison, so the (created_at, id) indexes seek straight to the page.
        stmt = stmt.where(tuple_(Case.created_at, Case.id) > tuple_(anchor, filters.after))
    elif filters.page > 1:
        stmt = stmt.offset((filters.page - 1) * PAGE)
    stmt = stmt.order_by(Case.created_at, Case.id).limit(PAGE + 1)
    rows = list(db.session.execute(stmt).scalars())
    return rows[:PAGE], len(rows) > PAGE


def overdue_ids(cases: list[Case], now=None) -> set[int]:
    if not cases:
        return set()
    now = now or utcnow()
    return set(db.session.execute(select(Case.id).where(Case.id.in_([c.id for c in cases]),
                                                        _overdue_clause(now))).scalars())


def response_due_at(case: Case):
    return case.created_at + timedelta(minutes=setting_int("first_response_minutes")) if case.created_at else None


def _capped(*where):
    # Counting stops after COUNT_CAP + 1 rows: "more than the cap" is all the widget shows then.
    rows = select(Case.id).where(*where).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(rows).scalar_subquery()


def open_counts(now=None) -> dict[str, int | str]:
    """Open, overdue and escalated cases in one statement; each shown as "1000+" beyond the cap."""
    now = now or utcnow()
    row = db.session.execute(select(
        _capped(Case.status.in_(OPEN_STATUSES)),
        _capped(_overdue_clause(now)),
        _capped(Case.status.in_(OPEN_STATUSES), Case.escalated.is_(True)),
    )).one()
    shown = [int(n or 0) if int(n or 0) <= COUNT_CAP else f"{COUNT_CAP}+" for n in row]
    return {"open": shown[0], "overdue": shown[1], "escalated": shown[2]}

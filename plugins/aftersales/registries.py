"""Registries kept by staff (DOMAIN.md §6): wrong shipments, lost/damaged parcels, quality flags.

Entries are typed by staff or taken from a case (reason ``wrong_item`` for
the wrong-shipment log; ``damaged`` / ``not_received`` for the parcel log);
a case is logged at most once per registry (unique ``case_id``). Months are
shop-local calendar months. CSV cells are neutralised against formulas.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Iterator

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from storefront.audit.services import record as audit
from storefront.clock import utcnow
from storefront.database import write_transaction
from storefront.errors import Conflict, Forbidden, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.money import MoneyError, parse_money
from storefront.orders.csv_io import neutralise
from storefront.orders.models import Order, OrderLine
from storefront.orders.transitions import Actor

from .metrics import utc_offset_minutes
from .models import Case, CaseLine
from .money_models import PARCEL_KINDS, PARCEL_STATUSES, RESOLUTIONS, ParcelClaim, WrongShipment

WRONG_REASONS = ("wrong_item",)
PARCEL_REASONS = ("damaged", "not_received")
QUALITY_REASON = "quality"
QUALITY_WINDOW = timedelta(days=30)
LIST_LIMIT = 500
BOM = "\ufeff"


def _require_staff(user) -> Actor:
    if user is None or not getattr(user, "is_staff", False):
        raise Forbidden(_("Staff only."))
    return Actor.of(user)


def _text(value, limit: int, field: str, *, required: bool = False) -> str:
    value = (value or "").strip() if isinstance(value, str) else ("" if value is None else str(value).strip())
    if required and not value:
        raise ValidationFailed(_("This field is required."), field=field)
    if len(value) > limit:
        raise ValidationFailed(_("At most %(n)s characters.", n=limit), field=field)
    return value


def _amount(value, currency: str, field: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValidationFailed(_("Enter an amount of zero or more."), field=field)
        return value
    try:
        return parse_money(str(value), currency).amount
    except MoneyError:
        raise ValidationFailed(_("Enter an amount, e.g. 12.50."), field=field) from None


def _order(number) -> Order:
    number = _text(number, 32, "order_number", required=True)
    order = db.session.execute(select(Order).where(Order.number == number)).scalar_one_or_none()
    if order is None:
        raise ValidationFailed(_("No order with this number."), field="order_number")
    return order


def _case_for(case_id, order: Order, reasons: tuple[str, ...]) -> Case | None:
    if case_id in (None, ""):
        return None
    try:
        case_id = int(case_id)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Unknown request."), field="case_id") from None
    case = db.session.get(Case, case_id)
    if case is None or case.order_id != order.id:
        raise ValidationFailed(_("That request is not about this order."), field="case_id")
    if case.reason not in reasons:
        raise ValidationFailed(_("That request's reason does not belong in this registry."), field="case_id")
    return case


def _choice(value, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise ValidationFailed(_("Choose one of the options."), field=field)
    return value


def _insert(row, staff, action: str):
    try:
        with write_transaction():
            db.session.add(row)
            db.session.flush()
            audit(staff, action, row, after={"order_number": row.order_number, "case_id": row.case_id})
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("This request is already in the registry."), code="already_logged",
                       field="case_id") from None
    return row


# -- wrong shipments ---------------------------------------------------------------------
def log_wrong_shipment(staff, data: dict) -> WrongShipment:
    actor = _require_staff(staff)
    order = _order(data.get("order_number"))
    case = _case_for(data.get("case_id"), order, WRONG_REASONS)
    quantity = data.get("quantity")
    quantity = 1 if quantity is None else quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 9999:
        raise ValidationFailed(_("Enter a quantity from 1 to 9999."), field="quantity")
    row = WrongShipment(
        order_id=order.id, case_id=case.id if case else None, order_number=order.number,
        expected_item=_text(data.get("expected_item"), 200, "expected_item"),
        sent_item=_text(data.get("sent_item"), 200, "sent_item"), quantity=quantity,
        resolution=_choice(data.get("resolution") or "other", RESOLUTIONS, "resolution"),
        cost=_amount(data.get("cost"), order.currency, "cost"), currency=order.currency,
        note=_text(data.get("note"), 500, "note"), created_by=actor.user_id,
        created_by_label=(actor.label or "")[:120], created_at=utcnow())
    return _insert(row, staff, "aftersales.wrong_shipment")


# -- parcel claims ----------------------------------------------------------------------
def log_parcel_claim(staff, data: dict) -> ParcelClaim:
    actor = _require_staff(staff)
    order = _order(data.get("order_number"))
    case = _case_for(data.get("case_id"), order, PARCEL_REASONS)
    now = utcnow()
    row = ParcelClaim(
        order_id=order.id, case_id=case.id if case else None, order_number=order.number,
        kind=_choice(data.get("kind"), PARCEL_KINDS, "kind"),
        carrier=_text(data.get("carrier") or order.carrier, 40, "carrier"),
        tracking_number=_text(data.get("tracking_number") or order.tracking_number, 64, "tracking_number"),
        paid_to_buyer=_amount(data.get("paid_to_buyer"), order.currency, "paid_to_buyer"),
        claimed_from_carrier=_amount(data.get("claimed_from_carrier"), order.currency, "claimed_from_carrier"),
        currency=order.currency, status="open", note=_text(data.get("note"), 500, "note"),
        created_by=actor.user_id, created_by_label=(actor.label or "")[:120], created_at=now, updated_at=now)
    return _insert(row, staff, "aftersales.parcel_claim")


def set_parcel_status(staff, claim_id: int, status: str) -> ParcelClaim:
    _require_staff(staff)
    status = _choice(status, PARCEL_STATUSES, "status")
    with write_transaction():
        claim = db.session.get(ParcelClaim, claim_id)
        if claim is None:
            raise NotFound(_("Registry entry not found."))
        before = claim.status
        db.session.execute(update(ParcelClaim).where(ParcelClaim.id == claim_id)
                           .values(status=status, updated_at=utcnow())
                           .execution_options(synchronize_session=False))
        audit(staff, "aftersales.parcel_claim_status", claim, before={"status": before}, after={"status": status})
    db.session.expire_all()
    return db.session.get(ParcelClaim, claim_id)


# -- listing ----------------------------------------------------------------------------
def month_bounds(month: str | None, now: datetime) -> tuple[datetime, datetime, str]:
    """UTC bounds of a shop-local month 'YYYY-MM' (default: this month)."""
    offset = timedelta(minutes=utc_offset_minutes(now))
    if month:
        try:
            first = datetime.strptime(month, "%Y-%m")
        except ValueError:
            raise ValidationFailed(_("Enter a month as YYYY-MM."), field="month") from None
    else:
        local = now + offset
        first = datetime(local.year, local.month, 1)
    following = datetime(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first - offset, following - offset, first.strftime("%Y-%m")


def wrong_shipments(month: str | None = None, now: datetime | None = None) -> tuple[list[WrongShipment], str]:
    start, end, label = month_bounds(month, now or utcnow())
    rows = db.session.execute(select(WrongShipment).where(WrongShipment.created_at >= start,
                                                          WrongShipment.created_at < end)
                              .order_by(WrongShipment.id.desc()).limit(LIST_LIMIT)).scalars()
    return list(rows), label


def parcel_claims(month: str | None = None, carrier: str | None = None,
                  now: datetime | None = None) -> tuple[list[ParcelClaim], str, dict]:
    """Entries of the month, and per carrier the totals paid to buyers and claimed (SQL)."""
    start, end, label = month_bounds(month, now or utcnow())
    where = [ParcelClaim.created_at >= start, ParcelClaim.created_at < end]
    if carrier:
        where.append(ParcelClaim.carrier == carrier)
    rows = list(db.session.execute(select(ParcelClaim).where(*where)
                                   .order_by(ParcelClaim.id.desc()).limit(LIST_LIMIT)).scalars())
    totals = {
        r.carrier: {"count": int(r.n), "paid_to_buyer": int(r.paid or 0), "claimed": int(r.claimed or 0)}
        for r in db.session.execute(
            select(ParcelClaim.carrier, func.count(ParcelClaim.id).label("n"),
                   func.sum(ParcelClaim.paid_to_buyer).label("paid"),
                   func.sum(ParcelClaim.claimed_from_carrier).label("claimed"))
            .where(*where).group_by(ParcelClaim.carrier).order_by(ParcelClaim.carrier))
    }
    return rows, label, totals


def case_candidates(registry: str, limit: int = 50) -> list[Case]:
    """Recent cases whose reason belongs in ``registry`` ("wrong" | "parcel") and that are not logged yet."""
    table, reasons = ((WrongShipment, WRONG_REASONS) if registry == "wrong" else (ParcelClaim, PARCEL_REASONS))
    stmt = (select(Case).outerjoin(table, table.case_id == Case.id)
            .where(Case.reason.in_(reasons), table.id.is_(None))
            .order_by(Case.id.desc()).limit(limit))
    return list(db.session.execute(stmt).scalars())


def prefill(registry: str, case_id) -> dict:
    """Form values taken from a case's data."""
    try:
        case = db.session.get(Case, int(case_id))
    except (TypeError, ValueError):
        case = None
    if case is None:
        return {}
    order = db.session.get(Order, case.order_id)
    items = "; ".join(f"{line.order_line.product_name} x{line.quantity}" for line in case.lines
                      if line.order_line is not None)
    data = {"order_number": order.number if order else "", "case_id": str(case.id), "note": case.description[:500]}
    if registry == "wrong":
        data.update(expected_item=items[:200])
    else:
        data.update(kind="lost" if case.reason == "not_received" else "damaged",
                    carrier=(order.carrier or "") if order else "",
                    tracking_number=(order.tracking_number or "") if order else "",
                    paid_to_buyer=case.amount_refunded or 0)
    return data


# -- quality flags ---------------------------------------------------------------------
def quality_flags(now: datetime, threshold: int) -> list[dict]:
    """Products with at least ``threshold`` quality requests in the last 30 days (one SQL GROUP BY)."""
    complaints = func.count(func.distinct(Case.id))
    stmt = (
        select(OrderLine.product_id, func.max(OrderLine.product_name).label("name"),
               complaints.label("complaints"), func.max(Case.created_at).label("latest"))
        .select_from(Case)
        .join(CaseLine, CaseLine.case_id == Case.id)
        .join(OrderLine, OrderLine.id == CaseLine.order_line_id)
        .where(Case.reason == QUALITY_REASON, Case.created_at >= now - QUALITY_WINDOW,
               OrderLine.product_id.is_not(None))
        .group_by(OrderLine.product_id)
        .having(complaints >= max(int(threshold), 1))
        .order_by(complaints.desc(), OrderLine.product_id)
    )
    return [{"product_id": int(r.product_id), "name": r.name, "complaints": int(r.complaints),
             "latest": r.latest} for r in db.session.execute(stmt)]


# -- CSV --------------------------------------------------------------------------------
def _line(cells) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([neutralise(c) for c in cells])
    return buffer.getvalue()


def _minor(amount: int, currency: str) -> str:
    from storefront.money import Money

    return str(Money(int(amount), currency).decimal)


def wrong_shipments_csv(rows: list[WrongShipment]) -> Iterator[str]:
    yield BOM + _line(["created_at_utc", "order_number", "case_id", "expected_item", "sent_item", "quantity",
                       "resolution", "cost", "currency", "note", "logged_by"])
    for r in rows:
        yield _line([r.created_at.strftime("%Y-%m-%d %H:%M"), r.order_number, r.case_id or "", r.expected_item,
                     r.sent_item, r.quantity, r.resolution, _minor(r.cost, r.currency), r.currency, r.note,
                     r.created_by_label])


def parcel_claims_csv(rows: list[ParcelClaim]) -> Iterator[str]:
    yield BOM + _line(["created_at_utc", "order_number", "case_id", "kind", "carrier", "tracking_number",
                       "paid_to_buyer", "claimed_from_carrier", "currency", "status", "note", "logged_by"])
    for r in rows:
        yield _line([r.created_at.strftime("%Y-%m-%d %H:%M"), r.order_number, r.case_id or "", r.kind, r.carrier,
                     r.tracking_number, _minor(r.paid_to_buyer, r.currency),
                     _minor(r.claimed_from_carrier, r.currency), r.currency, r.status, r.note, r.created_by_label])


def quality_flags_csv(rows: list[dict]) -> Iterator[str]:
    yield BOM + _line(["product_id", "product_name", "quality_complaints_30_days", "latest_utc"])
    for r in rows:
        yield _line([r["product_id"], r["name"], r["complaints"],
                     r["latest"].strftime("%Y-%m-%d %H:%M") if r["latest"] else ""])

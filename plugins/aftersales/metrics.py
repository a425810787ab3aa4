"""After-sales metrics (DOMAIN.md §7), per shop-local day and over the window.

The window is the last ``days`` shop-local days including today (default
30), from local midnight ``days - 1`` days ago up to ``now``. Every figure is
one SQL aggregate grouped by day (``GROUP BY`` on a date expression); Python
only adds up at most ``days`` aggregated rows. Each query is bounded by an
indexed column: ``orders.placed_at``, ``aftersales_cases.created_at`` /
``refunded_at`` / ``completed_at``.

Past days are read from ``aftersales_metric_days`` (:mod:`.metric_days`,
kept by the sweep) and only today -- or a day without a row -- is
aggregated live, so a view costs one day of orders, not thirty.

Definitions (rates are integer basis points, 10000 = 100 %; times seconds):

- product-experience refund rate: orders whose *first* request has a
  product reason (quality, not as described), by the request's day ÷ orders
  placed that day;
- refund-only / return-refund completion time: request → completion
  (``completed_at``) of refunded cases, by completion
  day; the return's five segments (DOMAIN.md §7) are approval
  (created→approved), buyer posting (approved→buyer shipped), transit
  (buyer shipped→parcel arrived), inspection (arrived→inspected) and refund
  (inspected→refunded); a missing stamp (no tracking entered, arrival and
  inspection recorded in one step) makes its segment zero and the next one
  longer, so the five always add up to the total;
- dispute refund rate: escalated requests decided against the seller and
  refunded, by refund day ÷ paid orders placed that day;
- seller-cancellation rate: orders closed by the seller for a listed reason
  (not duplicate unpaid orders) ÷ orders placed, by placing day;
- late-shipment rate: paid orders whose ship-by deadline has passed (or
  that shipped) and that were flagged overdue or shipped after it ÷ those
  orders, by placing day;
- auto-approved share: approved requests approved by a rule ÷ approved
  requests, by request day;
- first-response time: request → first staff reaction, by request day;
  also how many met the target.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, exists, func, literal_column, or_, select

from storefront.clock import shop_zone
from storefront.extensions import db
from storefront.orders.models import Order

from .models import Case

PRODUCT_REASONS = ("quality", "not_as_described")
REFUND_ONLY_KINDS = ("refund_unshipped", "refund_shipped")
RETURN_KIND = "return_refund"
#: The return's five segments: (name, stamp it starts at, stamp it ends at).
SEGMENTS = (
    ("approval", "created_at", "approved_at"),
    ("posting", "approved_at", "buyer_shipped_at"),
    ("transit", "buyer_shipped_at", "arrived_at"),
    ("inspection", "arrived_at", "inspected_at"),
    ("refund", "inspected_at", "refunded_at"),
)
MAX_DAYS = 366


@dataclass
class Report:
    start: datetime
    end: datetime
    days: list[str]
    rows: dict[str, dict] = field(default_factory=dict)  # day -> figures
    summary: dict = field(default_factory=dict)


# -- SQL helpers --------------------------------------------------------------------------
def _dialect() -> str:
    return db.session.get_bind().dialect.name


def utc_offset_minutes(now: datetime) -> int:
    """The shop zone's UTC offset at ``now`` (a fixed offset for the whole window; DST shifts
    within a window move at most an hour of data to the neighbouring day)."""
    zone = shop_zone()
    offset = now.replace(tzinfo=timezone.utc).astimezone(zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def day_of(column, offset: int):
    """Shop-local day of a naive-UTC column as 'YYYY-MM-DD' text."""
    offset = int(offset)
    if _dialect() == "postgresql":
        return func.to_char(column + literal_column(f"interval '{offset} minutes'"), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column, f"{offset:+d} minutes")


def seconds_between(later, earlier):
    if _dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def rate_bp(numerator: int, denominator: int) -> int | None:
    """numerator / denominator in basis points, rounded half up; None when undefined."""
    if not denominator:
        return None
    return (int(numerator) * 10000 * 2 + int(denominator)) // (2 * int(denominator))


def mean(total: float | int | None, count: int) -> int | None:
    if not count:
        return None
    return int(round(float(total or 0) / count))


# -- window -----------------------------------------------------------------------------
def window(now: datetime, days: int = 30) -> tuple[datetime, list[str], int]:
    days = max(1, min(int(days), MAX_DAYS))
    offset = utc_offset_minutes(now)
    local_today = (now + timedelta(minutes=offset)).date()
    first = local_today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time()) - timedelta(minutes=offset)
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    return start, labels, offset


def _grouped(stmt_columns, day, where, group_from=None) -> dict[str, tuple]:
    stmt = select(day.label("day"), *stmt_columns)
    if group_from is not None:
        stmt = stmt.select_from(group_from)
    stmt = stmt.where(*where).group_by(day)
    return {str(row[0]): tuple(row[1:]) for row in db.session.execute(stmt).all()}


# -- the figures ------------------------------------------------------------------------
def _orders(start, end, now, offset) -> dict[str, dict]:
    day = day_of(Order.placed_at, offset)
    paid = Order.paid_at.is_not(None)
    seller_cancel = and_(Order.closed_by_seller.is_(True),
                         or_(Order.close_reason.is_(None), Order.close_reason != "duplicate_order"))
    due = and_(paid, Order.ship_by.is_not(None),
               or_(Order.shipped_at.is_not(None), Order.ship_overdue_at.is_not(None),
                   and_(Order.ship_by < now, Order.closed_at.is_(None))))
    late = and_(due, or_(Order.ship_overdue_at.is_not(None), Order.shipped_at > Order.ship_by))
    rows = _grouped([func.count(Order.id),
                     func.sum(case((paid, 1), else_=0)),
                     func.sum(case((seller_cancel, 1), else_=0)),
                     func.sum(case((due, 1), else_=0)),
                     func.sum(case((late, 1), else_=0))],
                    day, [Order.placed_at >= start, Order.placed_at <= end])
    return {d: {"orders_placed": int(r[0] or 0), "paid_orders": int(r[1] or 0),
                "seller_cancellations": int(r[2] or 0), "ship_due": int(r[3] or 0),
                "late_shipments": int(r[4] or 0)} for d, r in rows.items()}


def _product_experience(start, end, offset) -> dict[str, dict]:
    earlier = Case.__table__.alias("earlier")
    first = ~exists().where(earlier.c.order_id == Case.order_id, earlier.c.id < Case.id)
    rows = _grouped([func.count(func.distinct(Case.order_id))], day_of(Case.created_at, offset),
                    [Case.created_at >= start, Case.created_at <= end, Case.reason.in_(PRODUCT_REASONS), first])
    return {d: {"product_experience_orders": int(r[0] or 0)} for d, r in rows.items()}


def _completed(start, end, offset) -> dict[str, dict]:
    done = Case.completed_at
    refund_only = Case.kind.in_(REFUND_ONLY_KINDS)
    is_return = Case.kind == RETURN_KIND
    total = seconds_between(done, Case.created_at)
    columns = [func.sum(case((refund_only, 1), else_=0)),
               func.sum(case((refund_only, total), else_=0)),
               func.sum(case((is_return, 1), else_=0)),
               func.sum(case((is_return, total), else_=0))]
    points = _segment_points()
    for index in range(len(SEGMENTS)):
        columns.append(func.sum(case((is_return, seconds_between(points[index + 1], points[index])), else_=0)))
    rows = _grouped(columns, day_of(done, offset), [Case.status == "refunded", done >= start, done <= end])
    result = {}
    for d, r in rows.items():
        figures = {"refund_only_completed": int(r[0] or 0), "refund_only_seconds": float(r[1] or 0),
                   "return_completed": int(r[2] or 0), "return_seconds": float(r[3] or 0)}
        for (name, _a, _b), value in zip(SEGMENTS, r[4:]):
            figures[f"segment_{name}_seconds"] = float(value or 0)
        result[d] = figures
    return result


def _segment_points():
    """The six instants bounding the five segments; a missing stamp falls back to the next one,
    so its segment is zero and the segments add up to request → refund (= completion)."""
    end = func.coalesce(Case.refunded_at, Case.completed_at)
    inspected = func.coalesce(Case.inspected_at, end)
    arrived = func.coalesce(Case.arrived_at, inspected)
    shipped = func.coalesce(Case.buyer_shipped_at, arrived)
    approved = func.coalesce(Case.approved_at, Case.created_at)
    return (Case.created_at, approved, shipped, arrived, inspected, end)


def _disputes(start, end, offset) -> dict[str, dict]:
    rows = _grouped([func.count(func.distinct(Case.order_id))], day_of(Case.refunded_at, offset),
                    [Case.refunded_at >= start, Case.refunded_at <= end, Case.status == "refunded",
                     Case.escalated.is_(True), Case.escalation_decision == "buyer"])
    return {d: {"dispute_refunds": int(r[0] or 0)} for d, r in rows.items()}


def _requests(start, end, offset, target_seconds: int) -> dict[str, dict]:
    approved = Case.approved_at.is_not(None)
    responded = Case.first_response_at.is_not(None)
    wait = seconds_between(Case.first_response_at, Case.created_at)
    rows = _grouped([func.count(Case.id),
                     func.sum(case((approved, 1), else_=0)),
                     func.sum(case((and_(approved, Case.auto_approved.is_(True)), 1), else_=0)),
                     func.sum(case((responded, 1), else_=0)),
                     func.sum(case((responded, wait), else_=0)),
                     func.sum(case((and_(responded, wait <= target_seconds), 1), else_=0))],
                    day_of(Case.created_at, offset), [Case.created_at >= start, Case.created_at <= end])
    return {d: {"requests": int(r[0] or 0), "approved": int(r[1] or 0), "auto_approved": int(r[2] or 0),
                "responded": int(r[3] or 0), "response_seconds": float(r[4] or 0),
                "responded_in_target": int(r[5] or 0)} for d, r in rows.items()}


COUNTS = ("orders_placed", "paid_orders", "seller_cancellations", "ship_due", "late_shipments",
          "product_experience_orders", "refund_only_completed", "refund_only_seconds", "return_completed",
          "return_seconds", *(f"segment_{n}_seconds" for n, _a, _b in SEGMENTS), "dispute_refunds",
          "requests", "approved", "auto_approved", "responded", "response_seconds", "responded_in_target")


def _derive(raw: dict) -> dict:
    """Rates and averages from a day's (or the window's) sums."""
    out = {key: (int(round(raw.get(key, 0))) if key.endswith("_seconds") else int(raw.get(key, 0)))
           for key in COUNTS}
    out["product_experience_rate_bp"] = rate_bp(out["product_experience_orders"], out["orders_placed"])
    out["refund_only_avg_seconds"] = mean(raw.get("refund_only_seconds"), out["refund_only_completed"])
    out["return_avg_seconds"] = mean(raw.get("return_seconds"), out["return_completed"])
    for name, _a, _b in SEGMENTS:
        out[f"segment_{name}_avg_seconds"] = mean(raw.get(f"segment_{name}_seconds"), out["return_completed"])
    out["dispute_rate_bp"] = rate_bp(out["dispute_refunds"], out["paid_orders"])
    out["seller_cancellation_rate_bp"] = rate_bp(out["seller_cancellations"], out["orders_placed"])
    out["late_shipment_rate_bp"] = rate_bp(out["late_shipments"], out["ship_due"])
    out["auto_approved_share_bp"] = rate_bp(out["auto_approved"], out["approved"])
    out["first_response_avg_seconds"] = mean(raw.get("response_seconds"), out["responded"])
    out["first_response_in_target_bp"] = rate_bp(out["responded_in_target"], out["responded"])
    return out


def raw_days(start: datetime, end: datetime, now: datetime, offset: int, target_seconds: int) -> dict[str, dict]:
    """The raw sums (``COUNTS``) per shop-local day of everything between ``start`` and ``end``."""
    merged: dict[str, dict] = {}
    for part in (_orders(start, end, now, offset), _product_experience(start, end, offset),
                 _completed(start, end, offset), _disputes(start, end, offset),
                 _requests(start, end, offset, target_seconds)):
        for day_label, figures in part.items():
            merged.setdefault(day_label, {}).update(figures)
    return merged


def day_start(label: str, offset: int) -> datetime:
    """UTC instant of the shop-local midnight starting day ``label``."""
    return datetime.combine(date.fromisoformat(label), datetime.min.time()) - timedelta(minutes=offset)


def report(now: datetime, days: int = 30, *, first_response_minutes: int = 5, stored: bool = True) -> Report:
    """The window's figures. Past days come from the roll-up when it has them
    (``stored``); today and days without a row are aggregated live, in one
    pass from the first such day to ``now``."""
    from .metric_days import stored_days

    start, labels, offset = window(now, days)
    target = int(first_response_minutes) * 60
    merged: dict[str, dict] = {label: {} for label in labels}
    have = stored_days(labels[:-1], offset, target) if stored else {}
    for label, figures in have.items():
        merged[label] = dict(figures)
    # Runs of consecutive days without a row (always at least today), one live pass each.
    runs: list[list[str]] = []
    for index, label in enumerate(labels):
        if label in have:
            continue
        if runs and labels.index(runs[-1][-1]) == index - 1:
            runs[-1].append(label)
        else:
            runs.append([label])
    for run in runs:
        last = labels.index(run[-1])
        run_end = now if last == len(labels) - 1 else day_start(labels[last + 1], offset)
        for day_label, figures in raw_days(max(day_start(run[0], offset), start), run_end, now, offset,
                                           target).items():
            if day_label in run:
                merged[day_label].update(figures)
    totals = {key: sum(merged[d].get(key, 0) for d in labels) for key in COUNTS}
    return Report(start=start, end=now, days=labels,
                  rows={d: _derive(merged[d]) for d in labels}, summary=_derive(totals))


CSV_COLUMNS = ("orders_placed", "paid_orders", "product_experience_orders", "product_experience_rate_bp",
               "refund_only_completed", "refund_only_avg_seconds", "return_completed", "return_avg_seconds",
               *(f"segment_{n}_avg_seconds" for n, _a, _b in SEGMENTS), "dispute_refunds", "dispute_rate_bp",
               "seller_cancellations", "seller_cancellation_rate_bp", "ship_due", "late_shipments",
               "late_shipment_rate_bp", "approved", "auto_approved", "auto_approved_share_bp", "responded",
               "first_response_avg_seconds", "responded_in_target", "first_response_in_target_bp")


def as_json(rep: Report) -> dict:
    return {"start": rep.start.isoformat(), "end": rep.end.isoformat(), "summary": rep.summary,
            "days": [{"day": d, **rep.rows[d]} for d in rep.days]}


def parse_day(value: str) -> date:
    return date.fromisoformat(value)

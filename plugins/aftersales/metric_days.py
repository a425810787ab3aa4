"""The metrics' daily roll-up (``aftersales_metric_days``), so a view reads rows, not orders.

At 1,000,000 orders the metrics page and the dashboard widget aggregated
every order of the last 30 days on each view (1.7 s and 2.6 s). Now the
sweep stores each past shop-local day's raw sums once (``metrics.COUNTS``:
counts and summed seconds, never rates, so any window adds them up
exactly) and views aggregate only today live.

A past day's figures still move a little afterwards (a late flag, a
cancellation or a case answered later count on the day the order or
request was placed), so the sweep also re-cuts stored days, oldest cut
first, once they are older than :data:`STALE_AFTER` (a few per minute: with
89 stored days a row is under an hour old). Rows are upserted by day, so two machines sweeping at once
write the same figures twice, never a wrong one. A row cut with another UTC
offset or first-response target than the view's counts as missing and that
day is aggregated live instead.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from storefront.database import write_transaction
from storefront.extensions import db

from . import metrics
from .money_models import MetricDay

#: Days kept: the metrics page offers 7, 30 and 90 days.
HORIZON_DAYS = 90
#: A stored day is cut again once its row is older than this.
STALE_AFTER = timedelta(minutes=30)
#: Per sweep (every minute): days without a row (a first fill at 1M orders is ~11 k orders a day), then stale ones.
MISSING_PER_SWEEP = 30
STALE_PER_SWEEP = 4
TARGET_KEY = "_first_response_target"


def stored_days(labels: list[str], offset: int, target_seconds: int) -> dict[str, dict]:
    """Stored raw sums of ``labels`` cut with this offset and first-response target."""
    if not labels:
        return {}
    rows = db.session.execute(select(MetricDay.day, MetricDay.utc_offset, MetricDay.figures)
                              .where(MetricDay.day.in_(labels))).all()
    return {day: figures for day, cut_offset, figures in rows
            if cut_offset == offset and (figures or {}).get(TARGET_KEY) == target_seconds}


def _upsert(day: str, offset: int, figures: dict, now: datetime) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(MetricDay.__table__).values(day=day, utc_offset=offset, figures=figures, computed_at=now)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=["day"], set_={"utc_offset": offset, "figures": figures, "computed_at": now}))


def days_to_cut(now: datetime, offset: int, target_seconds: int) -> list[str]:
    """Past days of the horizon whose row is missing (newest first), then stale ones (oldest cut first)."""
    _start, labels, _offset = metrics.window(now, HORIZON_DAYS)
    past = labels[:-1]
    rows = {day: (cut_offset, figures, computed_at) for day, cut_offset, figures, computed_at in db.session.execute(
        select(MetricDay.day, MetricDay.utc_offset, MetricDay.figures, MetricDay.computed_at)
        .where(MetricDay.day.in_(past))).all()}
    missing = [d for d in reversed(past) if d not in rows or rows[d][0] != offset
               or (rows[d][1] or {}).get(TARGET_KEY) != target_seconds]
    stale = sorted((rows[d][2], d) for d in past if d not in missing and rows[d][2] < now - STALE_AFTER)
    return missing[:MISSING_PER_SWEEP] + [d for _at, d in stale[:STALE_PER_SWEEP]]


def refresh(now: datetime, first_response_minutes: int) -> int:
    """Cut the days that need it (from the sweep); returns how many rows were written."""
    offset = metrics.utc_offset_minutes(now)
    target = int(first_response_minutes) * 60
    written = 0
    for label in days_to_cut(now, offset, target):
        start = metrics.day_start(label, offset)
        end = start + timedelta(days=1)
        # Read outside the write transaction: a day's aggregate is the slow part.
        raw = metrics.raw_days(start, end - timedelta(microseconds=1), now, offset, target).get(label, {})
        db.session.commit()
        with write_transaction():
            _upsert(label, offset, {**raw, TARGET_KEY: target}, now)
        written += 1
    return written


def forget() -> None:
    """Drop every stored day (tests, or after a change of the metric definitions)."""
    with write_transaction():
        db.session.execute(MetricDay.__table__.delete())

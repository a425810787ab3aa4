"""The shop's clock: naive UTC datetimes everywhere in the database.

``STOREFRONT_CLOCK_OFFSET_SECONDS`` moves the clock forward for demos and
end-to-end tests (a presale balance window "opening" without waiting days);
it is read per call so a test can change it on a running app.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from .context_objects import app_object


def utcnow() -> datetime:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if has_app_context():
        offset = app_object().config.get("STOREFRONT_CLOCK_OFFSET_SECONDS") or 0
        if offset:
            now += timedelta(seconds=int(offset))
    return now


# The shop's wall clock: stored times are naive UTC; sellers type and read
# them in the shop's time zone (STOREFRONT_TIMEZONE).
def shop_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("STOREFRONT_TIMEZONE") or "UTC")


def local_to_utc(value: datetime | None) -> datetime | None:
    """A wall-clock time in the shop zone (naive) or an aware time -> naive UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=shop_zone())
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def utc_to_local(value: datetime | None) -> datetime | None:
    """Naive UTC (as stored) or an aware moment -> naive wall-clock time in the shop zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(shop_zone()).replace(tzinfo=None)


def shop_today(now_utc: datetime) -> date:
    return utc_to_local(now_utc).date()

"""Shop time zone conversions: naive UTC in the database, shop-local on screen."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app


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
    """Naive UTC -> naive wall-clock time in the shop zone (for forms and lists)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).astimezone(shop_zone()).replace(tzinfo=None)


def shop_today(now_utc: datetime) -> date:
    return utc_to_local(now_utc).date()

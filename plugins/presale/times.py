"""Shop time zone and the wording of ship promises and balance windows.

The database holds naive UTC; buyers read shop-local dates, formatted for
their locale ("Ships by 5 Dec" / "12月5日前发货").
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from babel.dates import format_skeleton
from flask_babel import format_datetime, get_locale

from storefront.clock import local_to_utc
from storefront.i18n import gettext as _

from .models import BY_DATE


def end_of_local_day(day: date) -> datetime:
    """The last moment of a shop-local date, in naive UTC (a "ships by" deadline)."""
    return local_to_utc(datetime.combine(day + timedelta(days=1), time.min)) - timedelta(seconds=1)


def _locale() -> str:
    locale = get_locale()
    return str(locale) if locale else "en"


def day_text(day: date) -> str:
    """A date as the reader's locale writes a day and month ("5 Dec", "12月5日")."""
    return format_skeleton("MMMd", day, locale=_locale())


def when_text(value: datetime | None) -> str:
    """A UTC moment in shop time, short and locale-formatted."""
    return format_datetime(value, "short") if value is not None else ""


def promise_text(kind: str, ship_by_date: date | None, ship_within_days: int | None) -> str:
    """The exact promise shown everywhere the item appears."""
    if kind == BY_DATE and ship_by_date is not None:
        return _("Ships by %(day)s", day=day_text(ship_by_date))
    return _("Ships within %(n)s days of payment", n=int(ship_within_days or 0))


def promise_key(kind: str, ship_by_date: date | None, ship_within_days: int | None) -> str:
    """One order per promise: lines with the same key may share an order."""
    if kind == BY_DATE and ship_by_date is not None:
        return f"date:{ship_by_date.isoformat()}"
    return f"days:{int(ship_within_days or 0)}"


def ship_deadline(kind: str, ship_by_date: date | None, ship_within_days: int | None,
                  paid_at: datetime) -> datetime:
    """The ship-by deadline (naive UTC) that the order's promise means."""
    if kind == BY_DATE and ship_by_date is not None:
        return end_of_local_day(ship_by_date)
    return paid_at + timedelta(days=int(ship_within_days or 0))

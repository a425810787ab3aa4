"""Opening hours, closed dates and pickup time slots (pure functions plus the shop zone).

Hours are shop-local wall-clock times; slots are computed per local day and
converted to naive UTC, so the database and the capacity rows never depend
on the zone. A slot is offered when it fits inside the day's hours and
starts no earlier than now + the location's preparation time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from storefront.clock import shop_zone  # noqa: F401  (re-exported: the pickup modules import it from here)

WEEKDAYS = ("0", "1", "2", "3", "4", "5", "6")  # Monday first, like date.weekday()
_RANGE = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SLOT_KEY = re.compile(r"^(\d{1,12})@(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})$")


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


def to_local(utc: datetime, zone: ZoneInfo) -> datetime:
    return utc.replace(tzinfo=timezone.utc).astimezone(zone).replace(tzinfo=None)


def parse_range(text: str) -> list[str] | None:
    """"09:00-21:00" -> ["09:00", "21:00"]; "" -> None (closed). Raises ValueError."""
    text = (text or "").strip()
    if not text:
        return None
    match = _RANGE.match(text)
    if not match:
        raise ValueError("format")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h2 == 24 and m2:
        raise ValueError("format")
    if (h1, m1) >= (h2, m2):
        raise ValueError("order")
    return [f"{h1:02d}:{m1:02d}", f"{h2:02d}:{m2:02d}"]


def format_range(value) -> str:
    return f"{value[0]}-{value[1]}" if value else ""


def parse_dates(text: str) -> list[str]:
    """One YYYY-MM-DD per line (or comma separated); sorted, unique. Raises ValueError."""
    out = set()
    for part in re.split(r"[\s,]+", text or ""):
        if not part:
            continue
        if not _DATE.match(part):
            raise ValueError(part)
        date.fromisoformat(part)  # a real calendar date
        out.add(part)
    return sorted(out)


def _clock(value: str) -> time | None:
    hours, minutes = (int(x) for x in value.split(":"))
    return None if hours == 24 else time(hours, minutes)


@dataclass(frozen=True)
class Slot:
    location_id: int
    start: datetime  # naive UTC
    end: datetime  # naive UTC
    local_start: datetime
    local_end: datetime

    @cached_property
    def key(self) -> str:
        """Form/API value: ``<location id>@<local start>``.

        Kept on the slot (frozen, and the slots themselves are cached per process): the
        checkout page compares every slot's key with the buyer's choice."""
        return f"{self.location_id}@{self.local_start.strftime('%Y-%m-%dT%H:%M')}"


def day_slots(location, day: date, zone: ZoneInfo) -> list[Slot]:
    """All slots of ``location`` on the local ``day`` (ignores now and capacity)."""
    if day.isoformat() in (location.closed_dates or []):
        return []
    hours = (location.hours or {}).get(str(day.weekday()))
    if not hours:
        return []
    return list(_day_slots(location.id, day, hours[0], hours[1], int(location.slot_minutes), zone))


@lru_cache(maxsize=2048)
def _day_slots(location_id: int, day: date, opens_at: str, closes_at: str, minutes: int,
               zone: ZoneInfo) -> tuple[Slot, ...]:
    # A pure function of its arguments (Slot is frozen), kept per process: the checkout page
    # lists every slot of every store for days ahead, and the zone conversions were a fifth
    # of its time. A changed opening time or slot length is a different key.
    opens = datetime.combine(day, _clock(opens_at))
    close_clock = _clock(closes_at)
    closes = datetime.combine(day + timedelta(days=1), time(0)) if close_clock is None else \
        datetime.combine(day, close_clock)
    step = timedelta(minutes=minutes)
    slots = []
    start = opens
    while start + step <= closes:  # a slot never runs past closing time
        end = start + step
        slots.append(Slot(location_id, to_utc(start, zone), to_utc(end, zone), start, end))
        start = end
    return tuple(slots)


def upcoming_slots(location, now_utc: datetime, days: int, zone: ZoneInfo) -> list[Slot]:
    """Slots from today for ``days`` local days starting no earlier than now + preparation."""
    earliest = now_utc + timedelta(minutes=int(location.prep_minutes))
    today = to_local(now_utc, zone).date()
    out: list[Slot] = []
    for offset in range(max(1, int(days))):
        out.extend(s for s in day_slots(location, today + timedelta(days=offset), zone) if s.start >= earliest)
    return out


def parse_slot_key(value: str) -> tuple[int, datetime] | None:
    match = SLOT_KEY.match((value or "").strip())
    if not match:
        return None
    try:
        return int(match.group(1)), datetime.strptime(match.group(2), "%Y-%m-%dT%H:%M")
    except ValueError:
        return None

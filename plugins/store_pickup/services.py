"""Store pickup: locations (staff CRUD) and the checkout side (option, choices, slot reservation).

Pickup life after placing (ready, codes, counter, sweeps) is in :mod:`.pickups`.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storefront import joined_rows
from storefront.accounts.models import Address
from storefront.audit.services import record as audit
from storefront.clock import utcnow
from storefront.database import write_transaction
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.plugins import forget_request_memo, request_memo
from storefront.plugins.host import get_host
from storefront.plugins.types import DeliveryOption, Problem

from . import reuse
from . import slots as slotlib
from . import stock as stocklib
from .models import PREPARING, Location, LocationStock, Pickup, SlotUsage

PLUGIN_NAME = "store_pickup"
OPTION_CODE = "store_pickup"
DEFAULT_SETTINGS = {"days_ahead": 3, "remind_after_days": 3, "cancel_after_days": 7,
                    "max_wrong_codes": 5, "lockout_minutes": 15}
FIELD_SLOT, FIELD_NAME, FIELD_PHONE = "store_pickup_slot", "store_pickup_name", "store_pickup_phone"
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,30}$")
LIMITS = {"name": 120, "address": 255, "city": 80, "province": 80, "phone": 32, "map_url": 500}
NUMBERS = {"prep_minutes": (0, 10080), "slot_minutes": (5, 720), "slot_capacity": (1, 10000)}


def settings() -> dict:
    return get_host().settings(PLUGIN_NAME)


# -- locations ------------------------------------------------------------------------
def validate_location(data: dict) -> dict:
    """Clean a location form/API body; raises ValidationFailed with ``details["fields"]``."""
    errors: dict[str, str] = {}
    values: dict = {}
    for key, limit in LIMITS.items():
        value = str(data.get(key) or "").strip()
        if len(value) > limit:
            errors[key] = _("At most %(n)s characters.", n=limit)
        values[key] = value
    for key in ("name", "address"):
        if not values[key] and key not in errors:
            errors[key] = _("This field is required.")
    if values["phone"] and "phone" not in errors and not PHONE.match(values["phone"]):
        errors["phone"] = _("Enter a phone number.")
    if values["map_url"] and "map_url" not in errors:
        parsed = urlparse(values["map_url"])
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["map_url"] = _("A map link starts with https:// or http://.")
    hours_in = data.get("hours") or {}
    hours: dict[str, list[str]] = {}
    for day in slotlib.WEEKDAYS:
        raw = hours_in.get(day) if isinstance(hours_in, dict) else None
        if isinstance(raw, (list, tuple)):
            raw = "-".join(str(x) for x in raw)
        try:
            parsed_range = slotlib.parse_range(str(raw or ""))
        except ValueError:
            errors[f"hours_{day}"] = _("Write opening hours as 09:00-21:00, or leave empty when closed.")
            continue
        if parsed_range:
            hours[day] = parsed_range
    values["hours"] = hours
    closed = data.get("closed_dates") or ""
    if isinstance(closed, (list, tuple)):
        closed = "\n".join(str(x) for x in closed)
    try:
        values["closed_dates"] = slotlib.parse_dates(str(closed))
    except ValueError:
        errors["closed_dates"] = _("One date per line, as 2026-11-11.")
    for key, (low, high) in NUMBERS.items():
        raw = data.get(key)
        try:
            number = int(raw)
            if isinstance(raw, bool) or isinstance(raw, float) or not low <= number <= high:
                raise ValueError
        except (TypeError, ValueError):
            errors[key] = _("A whole number from %(low)s to %(high)s.", low=low, high=high)
            continue
        values[key] = number
    values["active"] = bool(data.get("active", True))
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(errors[first], field=first, details={"fields": errors})
    return values


def list_locations(active_only: bool = False) -> list[Location]:
    stmt = select(Location).order_by(Location.name, Location.id)
    if active_only:
        stmt = stmt.where(Location.active.is_(True))
    return list(db.session.execute(stmt).scalars())


def get_location(location_id) -> Location:
    try:
        row = db.session.get(Location, int(location_id))
    except (TypeError, ValueError):
        row = None
    if row is None:
        raise NotFound(_("No such pickup location."))
    return row


def _snapshot(row: Location) -> dict:
    return {key: getattr(row, key) for key in (*LIMITS, *NUMBERS, "hours", "closed_dates", "active")}


def create_location(data: dict, actor=None) -> Location:
    values = validate_location(data)
    forget_request_memo(MEMO)  # this request's memoised locations and stock checks
    with write_transaction():
        row = Location(**values)
        db.session.add(row)
        db.session.flush()
        audit(actor, "store_pickup.location_create", row, after=_snapshot(row))
    return row


def update_location(location_id: int, data: dict, actor=None) -> Location:
    values = validate_location(data)
    forget_request_memo(MEMO)  # this request's memoised locations and stock checks
    with write_transaction():
        row = get_location(location_id)
        before = _snapshot(row)
        for key, value in values.items():
            setattr(row, key, value)
        audit(actor, "store_pickup.location_update", row, before=before, after=_snapshot(row))
    return row


def delete_location(location_id: int, actor=None) -> None:
    """Delete a location without pickups; one with pickups can only be deactivated."""
    forget_request_memo(MEMO)  # this request's memoised locations and stock checks
    with write_transaction():
        row = get_location(location_id)
        used = db.session.execute(select(Pickup.id).where(Pickup.location_id == row.id).limit(1)).first()
        if used is not None:
            raise Conflict(_("This location has pickups; deactivate it instead."), code="location_in_use")
        audit(actor, "store_pickup.location_delete", row, before=_snapshot(row))
        db.session.delete(row)


# -- checkout ---------------------------------------------------------------------------
MEMO = "store_pickup.checkout"


def _active_locations() -> list[Location]:
    """Active locations by name; once per request (the option, the checkout fields and the
    checks all need them; outside a request, every call reads)."""
    memo = request_memo(MEMO)
    if memo is None:
        return list_locations(active_only=True)
    if "active" not in memo:
        memo["active"] = list_locations(active_only=True)
    return memo["active"]


def _short_locations(location_ids, needs: dict[int, int]) -> set[int]:
    """``stock.short_locations`` memoised per request for the same locations and needs."""
    memo = request_memo(MEMO)
    if memo is None:
        return stocklib.short_locations(location_ids, needs)
    key = ("short", tuple(location_ids), tuple(sorted(needs.items())))
    if key not in memo:
        memo[key] = stocklib.short_locations(location_ids, needs)
    return memo[key]


# The checkout page's two look-ups are built once per process (building and keying
# them cost a third of what running them did) and read in Core, the locations built as
# loaded rows (storefront.joined_rows): the ORM's execution and loading cost more than
# these small queries.
_LOCATION_ROWS = joined_rows.JoinedEntities(Location)


@functools.cache
def _locations_and_stock_query():
    location, stock = Location.__table__, LocationStock.__table__
    return (select(*_LOCATION_ROWS.columns, stock.c.sku_id, stock.c.quantity)
            .select_from(location.outerjoin(stock, and_(stock.c.location_id == location.c.id,
                                                        stock.c.sku_id.in_(bindparam("sku_ids", expanding=True)))))
            .where(location.c.active.is_(True)).order_by(location.c.name, location.c.id))


@functools.cache
def _slot_usage_query():
    return select(SlotUsage.location_id, SlotUsage.slot_start, SlotUsage.used).where(
        SlotUsage.location_id.in_(bindparam("location_ids", expanding=True)),
        SlotUsage.slot_start >= bindparam("first"), SlotUsage.slot_start <= bindparam("last"),
        SlotUsage.used > 0)


def _locations_and_short(needs: dict[int, int]) -> tuple[list[Location], set[int]]:
    """The active locations and those of them short of ``needs``, in one query.

    The cart page, the checkout and every flash API call ask for the pickup option;
    the locations and their stock of the cart's SKUs were two round trips. The
    results fill the same per-request memo :func:`_active_locations` and
    :func:`_short_locations` read, so later questions of the request cost nothing.
    Within the settings' window a worker's copy for the same SKUs answers
    (:mod:`.reuse`, retired by any write to the stores or their stock).
    """
    memo = request_memo(MEMO)
    if not needs or (memo is not None and "active" in memo):
        locations = _active_locations()
        return locations, _short_locations([loc.id for loc in locations], needs)
    shared = reuse.for_request()
    key = ("stores", tuple(sorted(needs)))
    kept, marker = shared[0].lookup(key) if shared is not None else (None, None)
    if kept is not None:
        locations, stock = kept.locations(), kept.stock
    else:
        session = db.session()
        rows = joined_rows.read(session, _locations_and_stock_query(), {"sku_ids": list(needs)})
        locations, stock = [], []
        for row in rows:
            (location,) = _LOCATION_ROWS.objects(session, row)
            if not locations or locations[-1] is not location:
                locations.append(location)
            if row[-2] is not None:
                stock.append((location.id, row[-2], row[-1]))
        if shared is not None:
            copies, seconds = shared
            copies.keep({key: reuse.Stores.of(locations, stock)}, marker, seconds, reuse.MAX_COPIES)
    short = {location_id for location_id, sku_id, quantity in stock
             if quantity < needs[sku_id]}  # as stock.short_locations
    if memo is not None:
        memo["active"] = locations
        memo[("short", tuple(loc.id for loc in locations), tuple(sorted(needs.items())))] = short
    return locations, short


def delivery_option(lines=None) -> DeliveryOption | None:
    """The pickup option, when an active location can fill every line (``lines`` of a cart)."""
    locations, short = _locations_and_short(stocklib.needs_of(lines))
    active = [loc.id for loc in locations]
    if not active or not set(active) - short:
        return None
    return DeliveryOption(code=OPTION_CODE, label=_("Pick up in store"), fee=0, source=PLUGIN_NAME,
                          description=_("Collect your order at one of our stores: no shipping fee."),
                          needs_address=False)


def _buyer_place(buyer, address: dict | None = None) -> tuple[str, str]:
    # The address the buyer gave in this checkout (or a city they typed) wins; else only
    # the buyer's OWN saved address is read: never anyone else's.
    if address and str(address.get("city") or "").strip():
        return (str(address.get("city") or "").strip().casefold(),
                str(address.get("province") or "").strip().casefold())
    if buyer is None or not getattr(buyer, "is_authenticated", False):
        return "", ""
    row = db.session.execute(
        select(Address).where(Address.user_id == buyer.id)
        .order_by(Address.is_default.desc(), Address.id).limit(1)).scalar_one_or_none()
    if row is None:
        return "", ""
    return (row.city or "").strip().casefold(), (row.province or "").strip().casefold()


def locations_for_buyer(buyer, lines=None, address: dict | None = None) -> list[Location]:
    """Active locations, nearest first: same city, then same province, then the rest by name.

    The place is ``address`` (``city``/``province`` given in this checkout or
    request) or else the buyer's own default address. With ``lines`` (a
    cart's), only the locations whose stock can fill all of them.
    """
    city, province = _buyer_place(buyer, address)
    locations = _active_locations()
    short = _short_locations([loc.id for loc in locations], stocklib.needs_of(lines))

    def rank(loc: Location) -> tuple:
        same_city = bool(city) and (loc.city or "").strip().casefold() == city
        same_province = bool(province) and (loc.province or "").strip().casefold() == province
        return (0 if same_city else 1 if same_province else 2, loc.name, loc.id)

    return sorted((loc for loc in locations if loc.id not in short), key=rank)


def available_slots(location: Location, now: datetime | None = None) -> list[slotlib.Slot]:
    """Upcoming slots of ``location`` that still have room."""
    return available_slots_for([location], now)[location.id]


def available_slots_for(locations, now: datetime | None = None) -> dict[int, list[slotlib.Slot]]:
    """:func:`available_slots` of several locations, with one query for their slot usage."""
    now = now or utcnow()
    zone = slotlib.shop_zone()
    days = int(settings()["days_ahead"])
    candidates = {loc.id: slotlib.upcoming_slots(loc, now, days, zone) for loc in locations}
    starts = [s.start for slots in candidates.values() for s in slots]
    if not starts:
        return {loc.id: [] for loc in locations}
    used = joined_rows.read(db.session(), _slot_usage_query(), {"location_ids": list(candidates),
                                                                "first": min(starts), "last": max(starts)})
    # A store lists a few hundred slots for the days ahead and few of them have bookings:
    # find the full ones, then drop those, instead of a look-up per slot.
    capacity = {loc.id: loc.slot_capacity for loc in locations}
    full: dict[int, set[datetime]] = {}
    for loc_id, start, n in used:
        if n >= capacity[loc_id]:
            full.setdefault(loc_id, set()).add(start)
    return {loc.id: [s for s in candidates[loc.id] if s.start not in full[loc.id]] if loc.id in full
            else candidates[loc.id] for loc in locations}


def offered_slots(locations, now: datetime | None = None) -> reuse.Offered:
    """The open slots of ``locations`` for a page to offer: a worker's recent copy
    (:mod:`.reuse`) or worked out now. Placing checks the chosen slot afresh."""
    now = now or utcnow()
    shared = reuse.for_request()
    if shared is None:
        return reuse.Offered(now, available_slots_for(locations, now))
    copies, seconds = shared
    key = reuse.slots_key(int(settings()["days_ahead"]), slotlib.shop_zone().key, locations)
    kept, marker = copies.lookup(key)
    # The shop's clock must agree too: a request "before" the copy, or past its window, works
    # the slots out again (a clock set by a test, a suspended worker).
    if kept is not None and kept.read_at <= now < kept.read_at + timedelta(seconds=seconds):
        return kept
    offered = reuse.Offered(now, available_slots_for(locations, now))
    copies.keep({key: offered}, marker, seconds, reuse.MAX_COPIES)
    return offered


@dataclass(frozen=True)
class Choice:
    location: Location
    slot: slotlib.Slot
    name: str
    phone: str


def clean_choice(extra: dict, lines=None, now: datetime | None = None) -> tuple[Choice | None, list[Problem]]:
    """The buyer's pickup choices from ``checkout.extra`` for the checkout's ``lines``, or the problems."""
    problems: list[Problem] = []
    extra = extra or {}
    slot = None
    location = None
    parsed = slotlib.parse_slot_key(extra.get(FIELD_SLOT, ""))
    if parsed is None:
        problems.append(Problem("pickup_slot_required", _("Choose a store and a pickup time."),
                                PLUGIN_NAME, FIELD_SLOT))
    else:
        location = db.session.get(Location, parsed[0])
        if location is None or not location.active:
            problems.append(Problem("pickup_location_invalid", _("Choose one of the stores shown."),
                                    PLUGIN_NAME, FIELD_SLOT))
        elif not stocklib.can_fill(location.id, stocklib.needs_of(lines)):
            problems.append(Problem("pickup_stock_short",
                                    _("This store does not have everything in your cart; choose another store."),
                                    PLUGIN_NAME, FIELD_SLOT))
        else:
            slot = next((s for s in available_slots(location, now) if s.local_start == parsed[1]), None)
            if slot is None:
                problems.append(Problem("pickup_slot_unavailable",
                                        _("That pickup time is no longer available; choose another."),
                                        PLUGIN_NAME, FIELD_SLOT))
    name = (extra.get(FIELD_NAME) or "").strip()
    phone = (extra.get(FIELD_PHONE) or "").strip()
    if not name or len(name) > 120:
        problems.append(Problem("pickup_name_invalid", _("Enter the name of the person collecting (at most 120 characters)."),
                                PLUGIN_NAME, FIELD_NAME))
    if not PHONE.match(phone) or len(phone) > 32:
        problems.append(Problem("pickup_phone_invalid", _("Enter the phone number of the person collecting."),
                                PLUGIN_NAME, FIELD_PHONE))
    if problems:
        return None, problems
    return Choice(location, slot, name, phone), []


def is_pickup(checkout) -> bool:
    return getattr(getattr(checkout, "delivery", None), "code", None) == OPTION_CODE


def validate_checkout(checkout) -> list[Problem]:
    if not is_pickup(checkout):
        return []
    return clean_choice(checkout.extra, checkout.lines)[1]


def _ensure_usage_row(location_id: int, slot_start: datetime) -> None:
    # Created on first use; two checkouts creating it at once both succeed (one inserts).
    dialect = db.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(SlotUsage).values(location_id=location_id, slot_start=slot_start, used=0)
                       .on_conflict_do_nothing(index_elements=["location_id", "slot_start"]))


def take_slot(location: Location, slot_start: datetime) -> None:
    """Reserve one place in a slot; raises Conflict when it is full (capacity never exceeded)."""
    _ensure_usage_row(location.id, slot_start)
    # Through the ORM so the datetime is bound exactly as it was stored (SQLite keeps text).
    result = db.session.execute(
        update(SlotUsage).where(SlotUsage.location_id == location.id, SlotUsage.slot_start == slot_start,
                                SlotUsage.used < int(location.slot_capacity))
        .values(used=SlotUsage.used + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(_("That pickup time has just filled up; choose another."), code="pickup_slot_full",
                       field=FIELD_SLOT)


def give_slot_back(location_id: int, slot_start: datetime) -> None:
    db.session.execute(
        update(SlotUsage).where(SlotUsage.location_id == location_id, SlotUsage.slot_start == slot_start,
                                SlotUsage.used > 0)
        .values(used=SlotUsage.used - 1).execution_options(synchronize_session=False))


def order_placing(order, checkout) -> None:
    """Inside the checkout transaction: check the choice again, take the slot and the
    store's stock of this order's lines, write the pickup."""
    if not is_pickup(checkout):
        return
    # A split checkout places several orders: each checks and takes only its own lines
    # (the whole cart was checked by validate_checkout before the transaction).
    choice, problems = clean_choice(checkout.extra, order.lines)
    if choice is None:
        raise ValidationFailed(problems[0].message, code=problems[0].code, field=problems[0].field)
    take_slot(choice.location, choice.slot.start)
    taken = stocklib.reserve(choice.location.id, stocklib.needs_of(order.lines))
    db.session.add(Pickup(order_id=order.id, location_id=choice.location.id, slot_start=choice.slot.start,
                          slot_end=choice.slot.end, contact_name=choice.name, contact_phone=choice.phone,
                          status=PREPARING, reference=f"PU-{order.number}", stock_lines=taken))
    db.session.flush()

"""A worker's recent answer to "which pickup times are open", shared by every buyer.

Every checkout page offers each store's pickup times for days ahead (a few hundred
``<option>`` elements): working them out and reading which are full was 1.0 of the
page's 12.8 million instructions, rendering the stores and that ``<select>`` another
1.3. Until a slot is booked or given back the answer is the same for every buyer
who sees the same stores. So a worker keeps the open slots of a set of stores, and
the markup the checkout renders from them (:meth:`Offered.markup`), while the copy
is younger than the settings' window (``STOREFRONT_CONFIG_REUSE_SECONDS``, 1 s;
``0`` works them out on every page).

Every write to ``store_pickup_slot_usage`` retires the copies, as writes to the
settings do (:mod:`storefront.reuse_signal`): this worker's at once, the host's
other workers' through ``<instance>/store-pickup-slots-changed``. So while a
sale's pickup orders book slots, every page after a booking shows it. A store's
edit (hours, closed days, slot length, capacity, lead time, name...) is a new key.

Only what the page *offers* comes from a copy. Placing an order checks the chosen
slot against the database again (``services.clean_choice``) and books it with a
conditional UPDATE, so a copy never overbooks a slot: at worst, for the window, a
writer on another host makes it offer a time that has just filled, which placing
refuses with a message next to the field.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from markupsafe import Markup

from storefront import reuse_signal
from storefront.clock import utcnow

from . import services
from . import slots as slotlib

EXTENSION_KEY = "store_pickup_slots_reuse"
SIGNAL_FILE = "store-pickup-slots-changed"
#: Sets of stores a worker keeps: buyers whose carts some store cannot fill see fewer.
MAX_COPIES = 16
#: Markup kept per copy: the languages times the orders buyers see the stores in
#: (nearest first).
MAX_MARKUP = 64

#: The clock of the window; tests patch it.
_now = time.monotonic

_WATCHED = re.compile(r"\bstore_pickup_slot_usage\b")


def _is_slot_write(statement: str) -> bool:
    if "store_pickup_slot_usage" not in statement or not _WATCHED.search(statement):
        return False
    return statement.lstrip()[:6].upper() != "SELECT"


def _signal_slot_change() -> None:
    """After the commit, in any app context (a sweep giving slots back too)."""
    reuse_signal.touch(os.path.join(current_app.instance_path, SIGNAL_FILE))


slot_writes = reuse_signal.WriteWatch("store_pickup_slots", _is_slot_write, _signal_slot_change)


@dataclass(frozen=True, slots=True)
class Offered:
    """The open slots of some stores, by store id, as worked out at ``read_at``."""
    read_at: datetime
    slots: dict[int, list[slotlib.Slot]]
    _markup: dict = field(default_factory=dict, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def markup(self, key, build: Callable[[], tuple[Markup, ...]]) -> tuple[Markup, ...]:
        """``build()``'s markup of these slots, kept with them under ``key`` (which names
        whatever else it depends on: the language, the stores' order)."""
        kept = self._markup.get(key)
        if kept is None:
            kept = build()
            with self._lock:  # gthread workers share a copy
                if len(self._markup) < MAX_MARKUP:
                    self._markup[key] = kept
        return kept


class SlotsReuse(reuse_signal.KeptCopies):
    """Copies keyed by the stores' schedules and the settings they were worked out with."""

    def __init__(self, instance_path: str) -> None:
        super().__init__(slot_writes, os.path.join(instance_path, SIGNAL_FILE), lambda: _now())


def _for_request() -> tuple[SlotsReuse, float] | None:
    return reuse_signal.in_settings_window(slot_writes, EXTENSION_KEY, SlotsReuse)


def _store_key(location) -> tuple:
    # Everything the slots or the chooser's markup of a store depend on; the JSON columns
    # by their repr (the same row reads back the same).
    return (location.id, location.name, location.address, location.phone, location.map_url,
            repr(location.hours), repr(location.closed_dates), location.prep_minutes,
            location.slot_minutes, location.slot_capacity)


def offered_slots(locations, now: datetime | None = None) -> Offered:
    """The open slots of ``locations`` for a page to offer: a recent copy or worked out now."""
    now = now or utcnow()
    shared = _for_request()
    if shared is None:
        return Offered(now, services.available_slots_for(locations, now))
    reuse, seconds = shared
    key = (int(services.settings()["days_ahead"]), slotlib.shop_zone().key,
           tuple(sorted(_store_key(loc) for loc in locations)))
    marker = reuse.marker()
    copy = reuse.fresh(key, marker, _now())
    # The shop's clock must agree too: a request "before" the copy, or past its window, works
    # the slots out again (a clock set by a test, a suspended worker).
    if copy is not None and copy.read_at <= now < copy.read_at + timedelta(seconds=seconds):
        return copy
    offered = Offered(now, services.available_slots_for(locations, now))
    reuse.keep({key: offered}, marker, seconds, MAX_COPIES)
    return offered

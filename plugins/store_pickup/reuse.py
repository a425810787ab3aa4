"""A worker's recent answers about the stores, shared by every buyer: which stores are
open and what they hold of a cart's SKUs, and which pickup times they have open.

Every checkout page asks both. Working out each store's slots for days ahead and
reading which are full was 1.0 of the page's 12.8 million instructions, rendering
the stores and the ``<select>`` of a few hundred slots another 1.3, reading the
stores and their stock 0.4; until a slot is booked, a store edited or its stock
counted, the answers are the same for every buyer. So a worker keeps them while
they are younger than the settings' window (``STOREFRONT_CONFIG_REUSE_SECONDS``,
1 s; ``0`` reads them on every page): the stores' column values and their counts
per set of SKUs (:class:`Stores`), the open slots per set of stores with the
markup the checkout renders from them (:class:`Offered`).

Every write to ``store_pickup_locations``, ``store_pickup_location_stock`` or
``store_pickup_slot_usage`` retires the copies, as writes to the settings do
(:mod:`storefront.reuse_signal`): this worker's at once, the host's other
workers' through ``<instance>/store-pickup-changed``. So while a sale's pickup
orders book slots and take store stock, every page after a booking shows it.

Only what a page *offers* comes from a copy. Placing an order reads the chosen
store again inside its write transaction (which expires what the request held),
checks the slot and the store's stock against the database
(``services.order_placing``) and takes them with conditional UPDATEs, so a copy
never overbooks a slot or oversells a store: at worst, for the window, a writer
on another host leaves a page offering a time that has just filled, which
placing refuses with a message next to the field.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from flask import current_app
from markupsafe import Markup

from storefront import reuse_signal
from storefront.row_copies import attached, column_values

from . import slots as slotlib
from .models import Location

EXTENSION_KEY = "store_pickup_reuse"
SIGNAL_FILE = "store-pickup-changed"
#: Copies a worker keeps: the stores per set of SKUs in carts (a sale's buyers share a
#: few), the open slots per set of stores (buyers whose carts a store cannot fill see fewer).
MAX_COPIES = 64
#: Markup kept per copy: the languages times the orders buyers see the stores in
#: (nearest first).
MAX_MARKUP = 64

#: The clock of the window; tests patch it.
_now = time.monotonic

_WATCHED = re.compile(r"\bstore_pickup_(?:locations|location_stock|slot_usage)\b")


def _is_store_write(statement: str) -> bool:
    if "store_pickup_" not in statement or not _WATCHED.search(statement):
        return False
    return statement.lstrip()[:6].upper() != "SELECT"


def _signal_store_change() -> None:
    """After the commit, in any app context (a sweep giving slots back too)."""
    reuse_signal.touch(os.path.join(current_app.instance_path, SIGNAL_FILE))


store_writes = reuse_signal.WriteWatch("store_pickup", _is_store_write, _signal_store_change)


@dataclass(frozen=True, slots=True)
class Stores:
    """The active stores, in the page's order, and their counts of some SKUs."""
    rows: tuple[dict, ...]  # each store's column values (storefront.row_copies)
    #: (store id, SKU id, quantity) of the counts kept for those SKUs.
    stock: tuple[tuple[int, int, int], ...]

    @classmethod
    def of(cls, locations, stock) -> "Stores":
        return cls(tuple(column_values(location) for location in locations), tuple(stock))

    def locations(self) -> list[Location]:
        """This request's store objects, built from the kept values."""
        return [attached(Location, values) for values in self.rows]


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


class StoreReuse(reuse_signal.KeptCopies):
    """Copies keyed ``("stores", SKU ids)`` (:class:`Stores`) and ``("slots", settings, stores)``
    (:class:`Offered`)."""

    def __init__(self, instance_path: str) -> None:
        super().__init__(store_writes, os.path.join(instance_path, SIGNAL_FILE), lambda: _now())


def for_request() -> tuple[StoreReuse, float] | None:
    """This app's copies and window, when the current context may use them."""
    return reuse_signal.in_settings_window(store_writes, EXTENSION_KEY, StoreReuse)


def slots_key(days: int, zone_key: str, locations) -> tuple:
    return ("slots", days, zone_key, tuple(sorted(_store_key(loc) for loc in locations)))


def _store_key(location) -> tuple:
    # Everything the slots or the chooser's markup of a store depend on; the JSON columns
    # by their repr (the same row reads back the same).
    return (location.id, location.name, location.address, location.phone, location.map_url,
            repr(location.hours), repr(location.closed_dates), location.prep_minutes,
            location.slot_minutes, location.slot_capacity)

"""A worker's recent answers to "which presale is this SKU on", shared by every buyer.

The cart page, the checkout page, a signed-in product page, adding to the cart,
entering a coupon and placing the order each ask (:mod:`.lookup`): one query per
request, for rows that in a Double 11 presale thousands of buyers ask about at
once, and that change when staff edit a campaign or an order takes or gives
back quota. So a worker keeps, per SKU, the column values of the campaign and
quota row it last read (or that the SKU is on none), and builds the next
request's objects from them while the copy is younger than the settings' window
(``STOREFRONT_CONFIG_REUSE_SECONDS``, 1 s; ``0`` reads on every request).

Every write to ``presale_campaigns`` or ``presale_quotas`` retires all copies,
as writes to the settings do (:mod:`storefront.reuse_signal`): this worker's at
once, the host's other workers' through ``<instance>/presale-changed``. That
includes each order's quota UPDATE, so the quota a page shows is never older
than this host's last sale; while a sale runs the copies live between orders,
and a sold-out presale is refused before the checkout's write, as without them.
Only a writer on another host, or behind SQLAlchemy's back, waits out the
window; the quota's conditional UPDATE still refuses what is no longer there.

A copy whose campaign has ended since the read is not used (the SKU's next
campaign, if any, takes its place: the query is run again).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from storefront import reuse_signal
from storefront.row_copies import attached, column_values

from .models import Campaign, Quota

EXTENSION_KEY = "presale_lookup_reuse"
SIGNAL_FILE = "presale-changed"
#: SKUs a worker keeps (a few hundred bytes each; the oldest go first). A shop's presale
#: traffic is on a few products, and a SKU on no presale is a few bytes.
MAX_SKUS = 4096

#: The clock of the window; tests patch it.
_now = time.monotonic

_WATCHED = re.compile(r"\bpresale_(?:campaigns|quotas)\b")


def _is_presale_write(statement: str) -> bool:
    """A statement that changes campaign or quota rows: new ones too (a SKU kept as on no
    presale may now be on one)."""
    if "presale_" not in statement or not _WATCHED.search(statement):
        return False
    return statement.lstrip()[:6].upper() != "SELECT"


def _signal_presale_change() -> None:
    """After the commit, in any app context: a job or a worker that has not served a
    look-up yet must tell the others too."""
    reuse_signal.touch(os.path.join(current_app.instance_path, SIGNAL_FILE))


presale_writes = reuse_signal.WriteWatch("presale", _is_presale_write, _signal_presale_change)


@dataclass(frozen=True, slots=True)
class _Found:
    read_at: datetime  # the shop clock of the read: a request "before" it re-reads
    campaign: dict[str, Any] | None  # None: the SKU was on no presale not yet ended
    quota: dict[str, Any] | None


class LookupReuse(reuse_signal.KeptCopies):
    """Copies keyed by SKU id."""

    def __init__(self, instance_path: str) -> None:
        super().__init__(presale_writes, os.path.join(instance_path, SIGNAL_FILE), lambda: _now())

    def take(self, sku_ids, now: datetime) -> tuple[dict[int, tuple[Campaign, Quota] | None], list[int]]:
        """The SKUs with a fresh copy, as this request's objects, and those without one."""
        found: dict[int, tuple[Campaign, Quota] | None] = {}
        missing: list[int] = []
        if not self.copies:
            return found, list(sku_ids)
        clock, marker = _now(), self.marker()
        for sku_id in sku_ids:
            copy = self.fresh(sku_id, marker, clock)
            if (copy is None or now < copy.read_at
                    or (copy.campaign is not None and copy.campaign["ends_at"] <= now)):
                missing.append(sku_id)
            elif copy.campaign is None:
                found[sku_id] = None
            else:
                found[sku_id] = (attached(Campaign, copy.campaign), attached(Quota, copy.quota))
        return found, missing

    def keep_read(self, marker: tuple[int, int], seconds: float, now: datetime,
                  read: dict[int, tuple[Campaign, Quota] | None]) -> None:
        """Keep what one look-up read at ``now`` (``marker`` taken before it)."""
        if self.watch.open_here():
            return  # before building the values: they would not be kept
        campaigns: dict[int, dict[str, Any]] = {}
        values: dict[int, _Found] = {}
        for sku_id, pair in read.items():
            if pair is None:
                values[sku_id] = _Found(now, None, None)
                continue
            campaign, quota = pair
            kept = campaigns.get(campaign.id)
            if kept is None:
                kept = campaigns[campaign.id] = column_values(campaign)
            values[sku_id] = _Found(now, kept, column_values(quota))
        self.keep(values, marker, seconds, MAX_SKUS)


def for_request() -> tuple[LookupReuse, float] | None:
    """This app's copies and window, when the current context may use them."""
    return reuse_signal.in_settings_window(presale_writes, EXTENSION_KEY, LookupReuse)

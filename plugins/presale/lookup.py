"""Which presale a SKU is on: one query for many SKUs, memoised per request and
shared by the worker's requests for a moment (:mod:`.reuse`).

A product page asks for each of its SKUs, the checkout page for each line
several times, the checkout's write transaction once more (the campaign as
priced; its quota's conditional UPDATE checks that the campaign is still open).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select

from storefront import joined_rows
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.plugins import request_memo

from . import reuse
from .models import Campaign, Quota

MEMO = "presale.campaigns"


_CAMPAIGN_QUERIES: dict[bool, object] = {}
_ROWS = joined_rows.JoinedEntities(Campaign, Quota)


def _campaign_query(first_only: bool = False):
    """Campaigns (with quota rows) of the SKUs ``:skus`` not ended at ``:now``, earliest first.

    Built once per process: a product page runs it on every view, and the same
    statement object keeps SQLAlchemy's memoised cache key (building and keying
    it cost more CPU than running it)."""
    stmt = _CAMPAIGN_QUERIES.get(first_only)
    if stmt is None:
        # Read in Core and built as loaded rows (storefront.joined_rows): the ORM's loading
        # of the two rows cost more than the query.
        campaign, quota = Campaign.__table__, Quota.__table__
        stmt = (select(*_ROWS.columns).join_from(campaign, quota, quota.c.campaign_id == campaign.c.id)
                .where(quota.c.sku_id.in_(bindparam("skus", expanding=True)), campaign.c.active.is_(True),
                       campaign.c.ends_at > bindparam("now"))
                .order_by(campaign.c.starts_at, campaign.c.id))
        if first_only:
            stmt = stmt.limit(1)
        _CAMPAIGN_QUERIES[first_only] = stmt
    return stmt


def campaigns_for_skus(sku_ids, now: datetime | None = None) -> dict[int, tuple[Campaign, Quota]]:
    """:func:`campaign_for_sku` for many SKUs in one query (SKUs on no presale are left out)."""
    now = now or utcnow()
    wanted = sorted({int(i) for i in sku_ids if i})
    found: dict[int, tuple[Campaign, Quota]] = {}
    session = db.session()
    for start in range(0, len(wanted), 500):
        chunk = {"skus": wanted[start:start + 500], "now": now}
        for row in joined_rows.read(session, _campaign_query(), chunk):
            campaign, quota = _ROWS.objects(session, row)
            found.setdefault(quota.sku_id, (campaign, quota))  # the earliest-starting one, as below
    return found


def prefetch_campaigns(sku_ids, now: datetime | None = None) -> None:
    """Load the presales of ``sku_ids`` into this request's memo with one query (no-op outside a request)."""
    memo = request_memo(MEMO)
    if memo is None:
        return
    now = now or utcnow()
    missing = [i for i in {int(i) for i in sku_ids if i} if i not in memo]
    if not missing:
        return
    shared = reuse.for_request()
    if shared is not None:
        copies, seconds = shared
        kept, missing = copies.take(missing, now)
        memo.update(kept)
        if not missing:
            return
        marker = copies.marker()
    found = campaigns_for_skus(missing, now)
    read = {sku_id: found.get(sku_id) for sku_id in missing}
    memo.update(read)
    if shared is not None:
        copies.keep_read(marker, seconds, now, read)


def campaign_for_sku(sku_id: int, now: datetime | None = None, *, fresh: bool = False
                     ) -> tuple[Campaign, Quota] | None:
    """The active presale a SKU is on now or soon (not yet ended), with its quota row.

    Within a request the answer is memoised per SKU (a product page asks for
    each SKU, the checkout page for each line three times); ``fresh`` reads
    the database (a quota UPDATE refused: sold out, or the campaign ended?). A
    memoised campaign that has ended since it was read counts as none.
    """
    now = now or utcnow()
    memo = None if fresh else request_memo(MEMO)
    if memo is not None:
        if sku_id not in memo:
            prefetch_campaigns([sku_id], now)
        found = memo.get(sku_id)
        return found if found is not None and found[0].ends_at > now else None
    session = db.session()
    rows = joined_rows.read(session, _campaign_query(True), {"skus": [sku_id], "now": now})
    return tuple(_ROWS.objects(session, rows[0])) if rows else None

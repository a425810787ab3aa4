"""What other plugins (promo popups) may ask about claimable coupons, answered from a cache.

``promotion_claimable("coupon:<code>")`` and the popup's Claim button are
asked on buyer pages, where no extra query per page is allowed. The
claimable coupons are read once per process into immutable snapshots and
kept until this plugin's ``plugin_states`` row changes (the host reads that
row once per request anyway, so checking it costs nothing). Every change
that can alter an answer bumps that row's version in the same transaction:
the claim that takes the last of a quota, and every staff edit. A 30 s TTL
covers the rest (a validity window that starts or ends meanwhile).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select, text

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.plugins.host import get_host

from .models import Coupon, live_at
from .rules import describe, normalize_code

PLUGIN_NAME = "coupons"
CACHE_KEY = "coupons_claimables"
CACHE_TTL_SECONDS = 30
REF_PREFIX = "coupon:"


@dataclass(frozen=True)
class ClaimableCoupon:
    id: int
    code: str
    name: str
    rule: str  # describe(coupon) in the language of the request that filled the cache
    active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    quota_left: bool

    def claimable(self, now: datetime) -> bool:
        return self.quota_left and live_at(self.active, self.starts_at, self.ends_at, now)


def bump_version() -> None:
    """Invalidate every process's cached answers (call inside the writing transaction)."""
    db.session.execute(text("UPDATE plugin_states SET version = version + 1, updated_at = :now WHERE name = :name"),
                       {"now": utcnow(), "name": PLUGIN_NAME})


def _stamp():
    state = get_host().states().get(PLUGIN_NAME)
    return (state.version, state.updated_at) if state is not None else None


def _cached(name: str, build):
    """``build()``'s result, kept per process until the plugin's version stamp moves or the TTL ends."""
    cache = current_app.extensions.setdefault(CACHE_KEY, {})
    stamp = _stamp()
    entry = cache.get(name)
    if entry is None or entry[0] != stamp or time.monotonic() - entry[1] >= CACHE_TTL_SECONDS:
        entry = cache[name] = (stamp, time.monotonic(), build())
    return entry[2]


def claimable_by_code() -> dict[str, ClaimableCoupon]:
    """Claimable coupons that have a code, by normalised code (from the per-process cache)."""
    def build():
        rows = db.session.execute(select(Coupon).where(Coupon.claimable.is_(True), Coupon.code.is_not(None))).scalars()
        return {c.code: ClaimableCoupon(id=c.id, code=c.code, name=c.name, rule=str(describe(c)),
                                        active=bool(c.active), starts_at=c.starts_at, ends_at=c.ends_at,
                                        quota_left=c.claim_quota_left)
                for c in rows}

    return _cached("entry", build)


def find(code: str | None) -> ClaimableCoupon | None:
    return claimable_by_code().get(normalize_code(code or "")) if code else None


def promotion_claimable(ref) -> bool | None:
    """``True``/``False`` for ``"coupon:<code>"`` of a claimable coupon; ``None`` for anything else."""
    if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
        return None
    coupon = find(ref[len(REF_PREFIX):])
    if coupon is None:
        return None
    return coupon.claimable(utcnow())


@dataclass(frozen=True)
class OfferedCoupon:
    """What the coupon boxes show of a claimable coupon (``describe`` reads the rule fields)."""

    id: int
    name: str
    kind: str
    percent_bp: int
    max_discount: int
    amount: int
    step: int
    tiers: tuple
    min_spend: int
    product_ids: tuple
    per_buyer_limit: int | None
    active: bool
    starts_at: datetime | None
    ends_at: datetime | None

    def is_live(self, now: datetime) -> bool:
        return live_at(self.active, self.starts_at, self.ends_at, now)


def offered_coupons(now: datetime | None = None) -> list[OfferedCoupon]:
    """``services.claimable_coupons()`` for the coupon boxes of buyer pages, from the per-process
    cache (same stamp and TTL as :func:`claimable_by_code`): the product, cart and checkout
    pages each showed it with one more query. Live-ness is decided per call; a quota running
    out bumps the stamp (``services.claim``), so a coupon all claimed is not offered."""
    now = now or utcnow()

    def build():
        rows = db.session.execute(select(Coupon).where(Coupon.claimable.is_(True), Coupon.active.is_(True))
                                  .order_by(Coupon.id)).scalars()
        return tuple(
            OfferedCoupon(id=c.id, name=c.name, kind=c.kind, percent_bp=c.percent_bp or 0,
                          max_discount=c.max_discount or 0, amount=c.amount or 0, step=c.step or 0,
                          tiers=tuple(tuple(t) for t in (c.tiers or [])), min_spend=c.min_spend or 0,
                          product_ids=tuple(c.product_ids or ()), per_buyer_limit=c.per_buyer_limit,
                          active=bool(c.active), starts_at=c.starts_at, ends_at=c.ends_at)
            for c in rows if c.claim_quota_left)

    return [c for c in _cached("offered", build) if c.is_live(now)]

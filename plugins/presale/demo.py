"""Two demo presales: a down jacket on deposit + balance, a cashmere turtleneck on full payment."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storefront.catalog.models import Product
from storefront.extensions import db

from .campaigns import create_campaign
from storefront.clock import utc_to_local

DEPOSIT_PRODUCT = "lightweight-down-jacket"
FULL_PRODUCT = "cashmere-blend-turtleneck"


def _product(slug: str):
    return db.session.execute(select(Product).where(Product.slug == slug)).scalar_one_or_none()


def seed(now) -> None:
    jacket, turtleneck = _product(DEPOSIT_PRODUCT), _product(FULL_PRODUCT)
    if jacket is not None:
        create_campaign({
            "product_id": jacket.id, "mode": "deposit", "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=10), "promise_kind": "date",
            "ship_by_date": (utc_to_local(now) + timedelta(days=25)).date(),
            "deposit": 5000, "deposit_value": 10000, "per_buyer_limit": 2,
            "balance_opens_at": now + timedelta(days=10), "balance_closes_at": now + timedelta(days=12),
            "return_deposit": False, "quotas": {s.id: 50 for s in jacket.skus}}, None)
    if turtleneck is not None:
        create_campaign({
            "product_id": turtleneck.id, "mode": "full", "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=14), "promise_kind": "days", "ship_within_days": 15,
            "price": 47900, "quotas": {s.id: 30 for s in turtleneck.skus}}, None)

"""The small shop the stateful property test plays in, rebuilt from empty tables per example.

Two buyers and one staff member; two spot-stock products (one also stocked
at a pickup store), a full-payment presale and a deposit presale (each with
its own quota and no spot stock), one coupon code limited in total and per
buyer. Plugins: coupons, presale, after-sales (no automatic approval, so the
staff steps are the test's) and store pickup.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from storefront.accounts.models import Role, User
from storefront.clock import utcnow
from storefront.extensions import db
from tests.factories import make_product, set_plugin_state

COUPON_CODE = "SAVE10"
ALL_DAY = {str(d): "00:00-24:00" for d in range(7)}


@dataclass
class World:
    buyers: list
    staff: object
    spot_skus: list[int]
    presale_skus: list[int]
    location_id: int
    initial_stock: dict[int, int]
    initial_store_stock: dict[tuple[int, int], int]
    carrier: str
    keys: int = 0
    notes: list = field(default_factory=list)

    def key(self, prefix: str) -> str:
        self.keys += 1
        return f"{prefix}-{self.keys:06d}-stateful"


def _user(email: str, role: Role) -> User:
    # No password: nobody signs in through a form here, and hashing is slow.
    user = User(email=email, name=email.split("@")[0], phone="13800000000", role=role, password_hash="!")
    db.session.add(user)
    db.session.commit()
    return user


def build_world() -> World:
    from plugins.coupons import admin_services
    from plugins.presale import campaigns
    from plugins.store_pickup import services as pickup_services
    from plugins.store_pickup import stock as pickup_stock
    from storefront.settings import get_setting

    set_plugin_state("coupons", True)
    set_plugin_state("presale", True)
    set_plugin_state("store_pickup", True)
    set_plugin_state("aftersales", True, {"auto_approve_unshipped": False, "auto_approve_no_reason_returns": False,
                                          "return_address": "1 Return Road, Shenzhen"})
    buyers = [_user("b1@example.com", Role.BUYER), _user("b2@example.com", Role.BUYER)]
    staff = _user("staff@example.com", Role.STAFF)
    shirt = make_product(name="Shirt", price=5000, stock=6)
    mug = make_product(name="Mug", price=3000, stock=4)
    now = utcnow()
    full = make_product(name="Presale coat", price=8000, stock=0)
    deposit = make_product(name="Deposit boots", price=10000, stock=0)
    base = {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=60), "promise_kind": "date",
            "ship_by_date": date.today() + timedelta(days=90), "ship_within_days": None, "price": None,
            "per_buyer_limit": 3}
    campaigns.create_campaign({**base, "product_id": full.id, "mode": "full",
                               "quotas": {full.skus[0].id: 4}}, None)
    campaigns.create_campaign({**base, "product_id": deposit.id, "mode": "deposit", "deposit": 2000,
                               "deposit_value": 3000, "balance_opens_at": now + timedelta(days=2),
                               "balance_closes_at": now + timedelta(days=4), "return_deposit": False,
                               "quotas": {deposit.skus[0].id: 3}}, None)
    admin_services.create_coupon({"name": "Ten off", "code": COUPON_CODE, "kind": "fixed", "amount": 1000,
                                  "total_quantity": 3, "per_buyer_limit": 2})
    location = pickup_services.create_location({
        "name": "Store", "address": "1 Nanjing Road", "city": "Shanghai", "province": "Shanghai",
        "phone": "+86 21 6288 0000", "map_url": "", "hours": ALL_DAY, "prep_minutes": 0,
        "slot_minutes": 60, "slot_capacity": 50})
    pickup_stock.set_stock(location.id, shirt.skus[0].id, 3)
    db.session.commit()
    return World(buyers=buyers, staff=staff, spot_skus=[shirt.skus[0].id, mug.skus[0].id],
                 presale_skus=[full.skus[0].id, deposit.skus[0].id], location_id=location.id,
                 initial_stock={shirt.skus[0].id: 6, mug.skus[0].id: 4},
                 initial_store_stock={(location.id, shirt.skus[0].id): 3},
                 carrier=str((get_setting("carriers") or ["SF Express"])[0]))

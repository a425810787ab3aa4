"""Helpers shared by the cart, checkout and payments tests (money path)."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from contextlib import contextmanager


from storefront.accounts.models import Address, ApiToken
from storefront.extensions import db
from storefront.plugins.host import get_host
from tests.conftest import new_client
from tests.factories import sign_in  # noqa: F401  (re-exported)

ADDRESS = {"name": "Li Lei", "phone": "13800138000", "province": "Guangdong", "city": "Shenzhen",
           "district": "Nanshan", "line1": "1 Keji Road", "postcode": "518000"}


def api_token(user) -> dict:
    """A bearer token header for ``user`` (only its SHA-256 is stored, as the app does)."""
    raw = secrets.token_urlsafe(24)
    db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(raw.encode()).hexdigest()))
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def make_address(user, **overrides) -> Address:
    row = Address(user_id=user.id, **{**ADDRESS, **overrides})
    db.session.add(row)
    db.session.commit()
    return row


def checkout_form(**overrides) -> dict:
    data = {"address_id": "new", **ADDRESS, "delivery_code": "courier", "note": "",
            "idempotency_key": uuid.uuid4().hex, "action": "place"}
    data.update(overrides)
    return data


@contextmanager
def plugin(app, obj, name: str = "testplugin"):
    """Register a tiny hook object on the app's plugin manager for one test."""
    pm = get_host(app).pm
    pm.register(obj, name=name)
    try:
        yield obj
    finally:
        pm.unregister(name=name)


def fresh_client(app):
    return new_client(app)


def fresh() -> None:
    """End the test's own read snapshot so it sees what requests committed."""
    db.session.rollback()
    db.session.expire_all()


def opposite_checkouts(a: int, b: int, **place_kwargs) -> list:
    """Two buyers whose carts hold SKUs ``a`` and ``b`` listed in opposite orders; returns one
    callable per buyer that places its cart (for the lock-order race tests)."""
    from storefront.accounts.models import User
    from storefront.cart.models import Cart, CartLine
    from storefront.checkout.services import place_order

    buyers = [User(email=f"pair{i}@example.com", name=f"Pair {i}", password_hash="!", phone="13800000000")
              for i in range(2)]
    db.session.add_all(buyers)
    db.session.flush()
    for buyer, skus in zip(buyers, ((a, b), (b, a))):
        db.session.add(Cart(user_id=buyer.id, data={}, lines=[CartLine(sku_id=s, quantity=1) for s in skus]))
    db.session.commit()

    def placer(user_id):
        return lambda: place_order(db.session.get(User, user_id), idempotency_key=uuid.uuid4().hex,
                                   address=dict(ADDRESS), **place_kwargs)

    return [placer(buyer.id) for buyer in buyers]

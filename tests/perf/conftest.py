"""A shop like the benchmark's: every bundled plugin enabled, a presale, a store, a wallet coupon.

The query-count tests pin how many SQL statements a page sends (issue 9): a
regression (an N+1, a cache lost) shows up as a count, never as a timing.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import NamedTuple
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from storefront.cart.models import Cart, CartLine
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.plugins.host import get_host
from tests.checkout.helpers import make_address
from tests.factories import make_product, make_user, set_plugin_state, sign_in  # noqa: F401

ALL_DAY = {str(d): "00:00-24:00" for d in range(7)}


class Sent(NamedTuple):
    sql: str          # whitespace collapsed
    parameters: object
    executemany: bool


class Statements(list):
    """The statements' texts; ``sent`` has each with its parameters."""

    def __init__(self):
        super().__init__()
        self.sent: list[Sent] = []
        self.writing: list[bool] = []  # per statement: sent inside write_transaction()

    def matching(self, pattern: str) -> list[str]:
        return [s for s in self if re.search(pattern, s, re.I)]

    def inside_writes(self) -> "Statements":
        """The statements sent inside ``write_transaction()`` blocks (holding SQLite's write lock)."""
        inside = Statements()
        inside.extend(s for s, writing in zip(self, self.writing) if writing)
        return inside


@contextmanager
def count_queries():
    """Collect every statement sent on the shop's engine (BEGIN included, as the bench counts)."""
    seen = Statements()

    from storefront.database import in_write_transaction

    def on_execute(_conn, _cursor, statement, parameters, _context, executemany):
        sql = " ".join(statement.split())
        seen.append(sql)
        seen.sent.append(Sent(sql, parameters, executemany))
        seen.writing.append(in_write_transaction())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


#: The whole order row, as the ORM loads it (a refresh, a reload of an expired order).
ORDER_ROW = r"^SELECT orders\.id, orders\.number"


@contextmanager
def no_write_transaction():
    """Fails if the block sends anything inside ``write_transaction()`` (on SQLite that
    begins with ``BEGIN IMMEDIATE``: the database's one write lock): what it refused, or
    found nothing to do for, was decided from plain reads."""
    with count_queries() as seen:
        yield seen
    assert not any(seen.writing), seen


@contextmanager
def record_transactions():
    """``count_queries()``, and where each COMMIT fell among the statements (``commits_at``)."""
    commits_at: list[int] = []
    with count_queries() as seen:
        listener = lambda _conn: commits_at.append(len(seen))  # noqa: E731
        event.listen(db.engine, "commit", listener)
        try:
            yield seen, commits_at
        finally:
            event.remove(db.engine, "commit", listener)


def writing_transactions(seen, commits_at) -> tuple[list[list[str]], list[list[str]]]:
    """The transactions (statements split at each COMMIT) that wrote something, and those
    run inside ``write_transaction()`` -- holding SQLite's write lock -- that wrote nothing."""
    bounds = [0, *commits_at, len(seen)]
    transactions = [(seen[a:b], any(seen.writing[a:b])) for a, b in zip(bounds, bounds[1:])]
    wrote = [t for t, _locked in transactions if any(s.startswith(("INSERT", "UPDATE", "DELETE")) for s in t)]
    return wrote, [t for t, locked in transactions if locked and t not in wrote]


def enable_all() -> None:
    for name in get_host().plugins:
        set_plugin_state(name, True)


@pytest.fixture
def shop(app):
    """Plugins on; a 4-SKU product with a presale on two SKUs, five plain products, a pickup store,
    a claimable coupon in the buyer's wallet, a buyer with an address."""
    from plugins.coupons import admin_services
    from plugins.coupons.services import claim
    from plugins.presale import campaigns
    from plugins.store_pickup import services as pickup

    enable_all()
    presale = make_product(name="Presale jacket", price=20000, stock=0, skus=4)
    now = utcnow()
    campaigns.create_campaign({
        "product_id": presale.id, "mode": "full", "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=7), "promise_kind": "date",
        "ship_by_date": date.today() + timedelta(days=30), "ship_within_days": None, "price": None,
        "per_buyer_limit": None, "quotas": {presale.skus[0].id: 50, presale.skus[1].id: 50}}, None)
    plain = [make_product(name=f"Tee {i}", price=5000 + i, stock=50) for i in range(5)]
    pickup.create_location({"name": "Jing'an store", "address": "1601 Nanjing West Road", "city": "Shanghai",
                            "province": "Shanghai", "phone": "+86 21 6288 0000", "map_url": "",
                            "hours": ALL_DAY, "prep_minutes": 0, "slot_minutes": 60, "slot_capacity": 5})
    coupon = admin_services.create_coupon({"name": "Ten off", "kind": "fixed", "amount": 1000,
                                           "per_buyer_limit": 2, "claimable": True})
    buyer = make_user()
    make_address(buyer)
    db.session.commit()
    claim(buyer, coupon.id)
    db.session.commit()
    return {"presale": presale, "plain": plain, "buyer": buyer, "coupon": coupon}


def give_cart(user, skus) -> Cart:
    cart = Cart(user_id=user.id, data={}, lines=[CartLine(sku_id=s.id, quantity=1) for s in skus])
    db.session.add(cart)
    db.session.commit()
    return cart

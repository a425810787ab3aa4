"""200 buyers check out the last 50 units at once: exactly 50 orders, stock 0, never negative.

Real threads, each with its own buyer and its own test client (so its own
app context and database session), against the real database (SQLite or
PostgreSQL). On PostgreSQL the pool holds 60 connections: threads queue.
"""
from __future__ import annotations

import threading
import uuid

from storefront.accounts.models import User
from storefront.cart.models import Cart, CartLine
from storefront.catalog.models import Sku
from storefront.extensions import db
from storefront.orders.models import Order, OrderLine
from storefront.payments.models import Payment

from .helpers import checkout_form, fresh, fresh_client, sign_in
from ..factories import make_product

BUYERS = 200
STOCK = 50


def _buyers_with_one_unit_in_cart(sku_id: int) -> list[User]:
    # Rows written directly: hashing 200 passwords would only slow the test down.
    users = [User(email=f"racer{i}@example.com", name=f"Racer {i}", password_hash="!", phone="13800000000")
             for i in range(BUYERS)]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        db.session.add(Cart(user_id=user.id, data={}, lines=[CartLine(sku_id=sku_id, quantity=1)]))
    db.session.commit()
    return users


def test_200_concurrent_checkouts_of_50_units(app):
    product = make_product(name="Limited kettle", price=19900, stock=STOCK)
    sku_id = product.skus[0].id
    users = _buyers_with_one_unit_in_cart(sku_id)
    clients = []
    for user in users:
        client = fresh_client(app)
        sign_in(client, user)
        clients.append(client)
    barrier = threading.Barrier(BUYERS)
    outcomes: list[tuple[int, str]] = [(-1, "")] * BUYERS

    def buy(index: int) -> None:
        client = clients[index]
        form = checkout_form(idempotency_key=uuid.uuid4().hex)
        barrier.wait(timeout=120)
        try:
            response = client.post("/checkout/", data=form)
            outcomes[index] = (response.status_code, response.get_data(as_text=True))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertions below
            outcomes[index] = (0, repr(exc))

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(BUYERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    statuses = [status for status, _ in outcomes]
    placed = [i for i, s in enumerate(statuses) if s == 302]
    refused = [i for i, s in enumerate(statuses) if s != 302]
    assert len(placed) == STOCK, sorted(set(statuses))
    for i in refused:
        status, body = outcomes[i]
        # A clear answer, never a 500: either the sold-out conflict at the stock
        # update, or the checkout page that already saw the stock gone.
        assert status in (409, 422), (status, body[:300])
        assert "Sold out: Limited kettle" in body or "Sold out" in body, body[:300]

    fresh()
    assert db.session.get(Sku, sku_id).stock == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Order)) == STOCK
    assert db.session.scalar(db.select(db.func.count()).select_from(Payment)) == STOCK
    assert db.session.scalar(db.select(db.func.sum(OrderLine.quantity))) == STOCK
    # Buyers who got an order have an empty cart; the others keep their line.
    winners = {users[i].id for i in placed}
    remaining = dict(db.session.execute(
        db.select(Cart.user_id, db.func.count(CartLine.id)).join(CartLine, isouter=True).group_by(Cart.user_id)).all())
    assert all(remaining[uid] == (0 if uid in winners else 1) for uid in remaining)
    assert set(db.session.scalars(db.select(Order.user_id))) == winners


def test_carts_holding_the_same_skus_in_opposite_orders_do_not_deadlock(app):
    """Two buyers check out {A, B} and {B, A} at the same moment. Taking the stock rows in
    cart order, each held one row and waited for the other's: PostgreSQL aborted one checkout
    with a deadlock (a 500). The stock rows are taken in SKU order, so the second one waits."""
    from ..races import run_each_holding_its_first
    from .helpers import opposite_checkouts

    product = make_product(name="Pair", price=5000, stock=10, skus=2)
    a, b = (sku.id for sku in product.skus)
    results = run_each_holding_its_first(app, "UPDATE skus SET stock",
                                         opposite_checkouts(a, b, delivery_code="courier"))
    assert not [r for r in results if isinstance(r, Exception)], results
    fresh()
    assert {db.session.get(Sku, a).stock, db.session.get(Sku, b).stock} == {8}

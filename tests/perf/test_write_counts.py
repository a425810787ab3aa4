"""SQL statements of the flash sale's writes (issue 9): placing an order and paying it.

Pinned counts, not timings. Each statement is a round trip on PostgreSQL
inside a transaction that holds row locks (on SQLite: the write lock), so
these counts bound how many checkouts per second the shop can serialise.
"""
from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from storefront.extensions import db
from storefront.orders.models import Order
from storefront.payments.models import Payment
from tests.checkout.helpers import api_token
from tests.conftest import new_client

from .conftest import count_queries, give_cart


def _place(app, buyer, headers):
    client = new_client(app)
    address_id = buyer.addresses[0].id if hasattr(buyer, "addresses") else None
    if address_id is None:
        from storefront.accounts.models import Address

        address_id = db.session.execute(select(Address.id).where(Address.user_id == buyer.id)).scalar()
    body = {"idempotency_key": uuid.uuid4().hex, "address_id": address_id, "delivery_code": "courier"}
    with count_queries() as seen:
        response = client.post("/api/v1/checkout", json=body, headers=headers)
    return client, body, response, seen


def _writes(seen) -> list[int]:
    """The positions of the INSERT, UPDATE and DELETE statements."""
    return [i for i, s in enumerate(seen) if s.startswith(("INSERT", "UPDATE", "DELETE"))]


def _after_commit(seen) -> list[str]:
    """The statements sent after the (last) write transaction's COMMIT: reloads for the response."""
    return seen[_writes(seen)[-1] + 1:]


def _in_write_transaction(seen) -> list[str]:
    """The statements from the first write to the last one."""
    writes = _writes(seen)
    return list(seen)[writes[0]:writes[-1] + 1]


def test_presale_checkout_with_coupon(app, shop):
    buyer = shop["buyer"]
    give_cart(buyer, [shop["presale"].skus[0]])
    headers = api_token(buyer)
    _client, _body, response, seen = _place(app, buyer, headers)
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["payment"]["orders"][0]["breakdown"]
    # The key's unique index answers a repeated submission: no SELECT before placing.
    assert not seen.matching(r"FROM payments WHERE payments.idempotency_key")
    # The buyer and the cart as priced are not reloaded inside the write transaction.
    assert not seen.matching(r"FROM users WHERE")
    assert len(seen.matching(r"^SELECT carts.id, carts.user_id")) == 1
    assert not seen.matching(r"SELECT order_lines")  # presale reads the new order's lines from memory
    assert not seen.matching(r"SELECT presale_orders")  # payment_due reuses the record just written
    assert not seen.matching(r"SELECT per_buyer_limit")  # RETURNING of the coupon's UPDATE
    assert not seen.matching(r"SELECT order_adjustments.id")  # the coupon share is known in memory
    # Nothing is reloaded after the commit to answer.
    assert not [s for s in _after_commit(seen) if s.startswith("SELECT")]
    assert not seen.matching(r"^SELECT store_pickup_location_stock\.")  # joined to the stores
    assert not seen.matching(r"FROM store_pickup_locations")  # placed for the courier: no store is asked
    assert len(seen) <= 28


def test_checkout_lines_are_one_insert(app, shop):
    buyer = shop["buyer"]
    give_cart(buyer, [p.skus[0] for p in shop["plain"][:3]])
    _client, _body, response, seen = _place(app, buyer, api_token(buyer))
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 201, response.get_json()
    # One flush writes the order's lines: one batched INSERT ... RETURNING where the dialect can
    # match the returned ids to the rows (PostgreSQL); SQLite's pysqlite cannot, one INSERT each.
    batched = db.engine.dialect.name == "postgresql"
    assert len(seen.matching(r"^INSERT INTO order_lines")) == (1 if batched else 3)
    assert len(seen.matching(r"^UPDATE skus SET stock")) == 3  # one conditional UPDATE per line, as before


def test_repeated_key_returns_the_first_checkout(app, shop):
    buyer = shop["buyer"]
    give_cart(buyer, [shop["plain"][0].skus[0]])
    headers = api_token(buyer)
    client, body, first, _seen = _place(app, buyer, headers)
    assert first.status_code == 201
    again = client.post("/api/v1/checkout", json=body, headers=headers)
    assert again.status_code == 200
    assert again.get_json()["payment"]["reference"] == first.get_json()["payment"]["reference"]
    # Even with a new cart, the key still answers with the first checkout (the INSERT's unique index).
    from storefront.cart.models import Cart, CartLine

    cart = db.session.execute(select(Cart).where(Cart.user_id == buyer.id)).scalar_one()
    db.session.add(CartLine(cart_id=cart.id, sku_id=shop["plain"][1].skus[0].id, quantity=1))
    db.session.commit()
    third = client.post("/api/v1/checkout", json=body, headers=headers)
    assert third.status_code == 200
    assert third.get_json()["payment"]["reference"] == first.get_json()["payment"]["reference"]
    assert db.session.execute(select(db.func.count()).select_from(Order).where(Order.user_id == buyer.id)
                              ).scalar() == 1


def test_pay(app, shop):
    buyer = shop["buyer"]
    give_cart(buyer, [shop["presale"].skus[0]])
    headers = api_token(buyer)
    client, _body, placed, _seen = _place(app, buyer, headers)
    reference = placed.get_json()["payment"]["reference"]
    with count_queries() as seen:
        response = client.post(f"/api/v1/payments/{reference}/pay-test", headers=headers)
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["status"] == "paid" and data["orders"][0]["status"] == "paid"
    assert len(seen.matching(r"FROM payments WHERE")) == 1  # the buyer's check; confirming reuses it
    assert len(seen.matching(r"^SELECT .*\b(FROM|JOIN) orders\b")) == 1  # with its lines and adjustments, joined
    assert not seen.matching(r"FROM users WHERE")  # the payer as signed in
    assert len(seen.matching(r"FROM presale_orders")) <= 1  # ship_promise, then notification_lines reuses it
    assert len(seen.matching(r"^INSERT INTO (outbox|inbox_messages)")) == 2  # the notification, same transaction
    assert not [s for s in _after_commit(seen) if s.startswith("SELECT")]
    assert len(seen) <= 14
    # Read before the write lock (which every other writer waits for): the orders, the plugin
    # states, and the presale record that the ship-by promise and the rendered notification need.
    writing = _in_write_transaction(seen)
    assert writing and not [s for s in writing
                            if re.search(r"\b(FROM|JOIN) (orders|plugin_states|presale_orders)\b", s)], writing
    # What the response showed is what was committed.
    db.session.expire_all()
    payment = db.session.execute(select(Payment).where(Payment.reference == reference)).scalar_one()
    assert payment.status == "paid" and payment.provider_ref == f"test_{reference}"
    assert payment.orders[0].status == "paid" and payment.orders[0].paid_total == payment.orders[0].total

    # Paying again changes nothing and answers the same.
    with count_queries() as again_seen:
        again = client.post(f"/api/v1/payments/{reference}/pay-test", headers=headers)
    assert again.status_code == 200 and again.get_json()["status"] == "paid"
    assert not again_seen.matching(r"^(INSERT|UPDATE)")

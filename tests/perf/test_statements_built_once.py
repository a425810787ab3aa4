"""The hot paths build no statement per request (issue 9, nineteenth round).

Building a SELECT with its loader options and generating its cache key cost
30-115 µs of CPU each, as much as running it on SQLite; a signed-in page ran a
handful, a paid flash order about twenty, several inside the write lock. The
statements are built once per process and run with bound values. These tests
drive a path twice, for different buyers, and fail if the second run executes
a statement object the first one did not: a statement built per request.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storefront.accounts.models import Address
from storefront.extensions import db
from tests.checkout.helpers import api_token, make_address
from tests.conftest import new_client
from tests.factories import make_user, sign_in

from .conftest import give_cart


@contextmanager
def executed_statements():
    """Every statement object handed to ``Session.execute`` in the block, by identity.

    The objects are kept (not only their ids), so a statement built later cannot
    reuse the id of one that was freed and pass for it."""
    executed: list = []
    real = Session.execute

    def spy(self, statement, *args, **kwargs):
        executed.append(statement)
        return real(self, statement, *args, **kwargs)

    Session.execute = spy
    try:
        yield executed
    finally:
        Session.execute = real


@pytest.fixture(autouse=True)
def _read_every_request(app, monkeypatch):
    """The signed-in user's load, the plugin states' and the presale look-ups are among the
    statements checked: without this, a request after the warm-up would take them from the
    worker's copies (identity_reuse, config_reuse, the presale plugin's reuse)."""
    monkeypatch.setitem(app.config, "STOREFRONT_IDENTITY_REUSE_SECONDS", 0)
    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 0)


def built_anew(first: list, second: list) -> list[str]:
    known = {id(statement) for statement in first}
    anew = [str(statement) for statement in second if id(statement) not in known]
    print(*anew, sep="\n\n")
    return anew


def _new_buyer():
    buyer = make_user()
    make_address(buyer)
    db.session.commit()
    return buyer


def _buyer_with_cart(shop, skus):
    buyer = _new_buyer()
    give_cart(buyer, skus)
    return buyer


def _api_buyer(shop) -> tuple[dict, int, int]:
    """A new buyer's bearer-token header, their address id, and the flash's presale SKU."""
    buyer = _new_buyer()
    address_id = db.session.execute(select(Address.id).where(Address.user_id == buyer.id)).scalar()
    return api_token(buyer), address_id, shop["presale"].skus[0].id


@pytest.mark.parametrize("path", ["/cart/", "/checkout/", "/products", "/products?q=tee", "/no-such-page",
                                  "/products/{slug}"])
def test_signed_in_pages(app, shop, path):
    """The signed-in buyer, the cart and its lines, the credit balance, the addresses, the
    listing and its categories: every statement of the second buyer's page was the first's."""
    skus = [shop["presale"].skus[0], shop["plain"][0].skus[0]]
    path = path.format(slug=shop["presale"].slug)
    runs = []
    for _ in range(2):
        client = new_client(app)
        sign_in(client, _buyer_with_cart(shop, skus))
        client.get(path)  # per-process caches filled, as a running shop has them
        with executed_statements() as executed:
            response = client.get(path)
        assert response.status_code == (404 if path == "/no-such-page" else 200)
        runs.append(executed)
    first, second = runs
    assert second, "the spy saw no statement"
    assert built_anew(first, second) == []


def _flash_order(app, shop, code: str) -> list:
    """A buyer's cart line, coupon code, checkout and test payment over the API; what it ran."""
    headers, address_id, sku_id = _api_buyer(shop)
    client = new_client(app)
    with executed_statements() as executed:
        # Refusals first: most of a flash's requests are refused (more than the quota left, a code that fails).
        too_many = client.post("/api/v1/cart/lines", json={"sku_id": sku_id, "quantity": 60},
                               headers={**headers, "Prefer": "return=minimal"})
        unknown = client.post("/api/v1/coupons/apply", json={"code": "NO-SUCH-CODE"}, headers=headers)
        added = client.post("/api/v1/cart/lines", json={"sku_id": sku_id, "quantity": 1},
                            headers={**headers, "Prefer": "return=minimal"})
        applied = client.post("/api/v1/coupons/apply", json={"code": code}, headers=headers)
        placed = client.post("/api/v1/checkout", headers=headers, json={
            "idempotency_key": uuid.uuid4().hex, "delivery_code": "courier", "address_id": address_id})
        reference = placed.get_json()["payment"]["reference"]
        paid = client.post(f"/api/v1/payments/{reference}/pay-test", json={}, headers=headers)
    assert 400 <= too_many.status_code < 500 and 400 <= unknown.status_code < 500
    assert added.status_code in (200, 201), added.get_json()
    assert applied.status_code == 200, applied.get_json()
    assert placed.status_code == 201, placed.get_json()
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["status"] == "paid"
    return executed


def _buy_now_order(app, shop, code: str) -> list:
    """A buyer's buy-now (立即购买) refused over an unknown coupon code, then with a good one,
    then the test payment; what it ran."""
    headers, address_id, sku_id = _api_buyer(shop)
    client = new_client(app)
    body = {"sku_id": sku_id, "quantity": 1, "idempotency_key": uuid.uuid4().hex, "delivery_code": "courier",
            "address_id": address_id, "extra": {"coupons_code": code}}
    refused_body = {**body, "extra": {"coupons_code": "NO-SUCH-CODE"}}
    with executed_statements() as executed:
        # Refused (most of a flash's buy-nows are): the key is looked up before the answer.
        refused = client.post("/api/v1/checkout/buy-now", json=refused_body, headers=headers)
        placed = client.post("/api/v1/checkout/buy-now", json=body, headers=headers)
        reference = placed.get_json()["payment"]["reference"]
        paid = client.post(f"/api/v1/payments/{reference}/pay-test", json={}, headers=headers)
    assert 400 <= refused.status_code < 500, refused.get_json()
    assert placed.status_code == 201, placed.get_json()
    assert paid.status_code == 200 and paid.get_json()["status"] == "paid"
    return executed


@pytest.mark.parametrize("order", [_flash_order, _buy_now_order], ids=["cart_flow", "buy_now"])
def test_an_order_over_the_api(app, shop, order):
    """Refusals, then the order placed (the write lock's statements among them) and paid:
    every statement of the third buyer's order was the second's."""
    from plugins.coupons import admin_services

    admin_services.create_coupon({"name": "Flash", "kind": "fixed", "amount": 500, "code": "FLASH11"})
    db.session.commit()
    order(app, shop, "FLASH11")  # the per-process caches, as for the pages
    first = order(app, shop, "FLASH11")
    second = order(app, shop, "FLASH11")
    assert built_anew(first, second) == []

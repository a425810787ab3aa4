"""Staff product editing through the API: same services, same errors, bearer token only."""
from __future__ import annotations

import pytest
from flask import g

from storefront.audit.models import AuditEntry
from storefront.catalog.models import Product, Sku
from storefront.extensions import db

from ..factories import PASSWORD, make_staff, make_user
from .helpers import make_category, make_full_product


def _token(client, user) -> dict:
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.fixture
def staff_headers(app, client):
    return _token(client, make_staff())


def test_needs_a_staff_token(app, client):
    product = make_full_product()
    body = {"name": "X"}
    assert client.post("/api/v1/staff/products", json=body).status_code == 401
    # The test's app context outlives requests: forget the anonymous user it cached.
    g.pop("_login_user", None)
    buyer = _token(client, make_user())
    for method, url in (("post", "/api/v1/staff/products"), ("put", f"/api/v1/staff/products/{product.id}"),
                        ("post", f"/api/v1/staff/products/{product.id}/skus"),
                        ("post", f"/api/v1/staff/skus/{product.skus[0].id}/stock")):
        response = getattr(client, method)(url, json=body, headers=buyer)
        assert response.status_code == 403, url
        assert response.get_json()["error"]["code"] == "forbidden"
    assert db.session.query(Product).count() == 1


def test_staff_creates_product_and_sku(app, client, staff_headers):
    make_category("Shirts", "shirts")
    created = client.post("/api/v1/staff/products", headers=staff_headers, json={
        "name": "Oxford Shirt", "category": "shirts", "option_names": ["Colour", "Size"], "active": False})
    assert created.status_code == 201
    body = created.get_json()
    assert body["slug"] == "oxford-shirt" and body["category"]["slug"] == "shirts" and body["skus"] == []
    sku = client.post(f"/api/v1/staff/products/{body['id']}/skus", headers=staff_headers, json={
        "code": "OX-WHT-M", "options": ["White", "M"], "price": "199.00", "compare_at_price": "259", "stock": 4})
    assert sku.status_code == 201
    assert sku.get_json()["skus"][0]["price"]["amount"] == 19900
    # inactive: not public yet
    assert client.get("/api/v1/products/oxford-shirt").status_code == 404
    actions = [e.action for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions == ["product.create", "sku.create"]


@pytest.mark.parametrize("change,field", [({"price": "-1"}, "price"), ({"price": "0.125"}, "price"),
                                          ({"price": "abc"}, "price"), ({"compare_at_price": "1"}, "compare_at_price"),
                                          ({"options": ["White"]}, "options"), ({"code": "a b"}, "code")])
def test_bad_sku_is_a_json_field_error(app, client, staff_headers, change, field):
    product = make_full_product()
    body = {"code": "NEW-1", "options": ["White", "M"], "price": "10.00", **change}
    response = client.post(f"/api/v1/staff/products/{product.id}/skus", headers=staff_headers, json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert db.session.query(Sku).count() == 1


def test_duplicate_slug_is_409(app, client, staff_headers):
    make_full_product("Taken", slug="taken")
    response = client.post("/api/v1/staff/products", headers=staff_headers, json={"name": "New", "slug": "taken"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "slug_taken"


def test_stock_endpoint(app, client, staff_headers):
    sku_id = make_full_product(skus=(("A", "S", 100, 5),)).skus[0].id
    url = f"/api/v1/staff/skus/{sku_id}/stock"
    ok = client.post(url, headers=staff_headers, json={"mode": "adjust", "quantity": -2})
    assert ok.status_code == 200 and ok.get_json() == {"sku_id": sku_id, "stock": 3}
    stale = client.post(url, headers=staff_headers, json={"mode": "set", "quantity": 9, "expected": 5})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "concurrent_update"
    below = client.post(url, headers=staff_headers, json={"mode": "adjust", "quantity": -4})
    assert below.status_code == 422
    assert client.post("/api/v1/staff/skus/999999/stock", headers=staff_headers,
                       json={"mode": "adjust", "quantity": 1}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Sku, sku_id).stock == 3


def test_update_product_and_sku(app, client, staff_headers):
    product = make_full_product("Old", skus=(("A", "S", 100, 5),))
    sku = product.skus[0]
    updated = client.put(f"/api/v1/staff/products/{product.id}", headers=staff_headers,
                         json={"name": "New", "slug": product.slug, "option_names": ["Colour", "Size"]})
    assert updated.status_code == 200 and updated.get_json()["name"] == "New"
    response = client.put(f"/api/v1/staff/products/{product.id}/skus/{sku.id}", headers=staff_headers,
                          json={"code": sku.code, "options": ["A", "S"], "price": "2.50", "stock": 999})
    assert response.status_code == 200
    db.session.expire_all()
    sku = db.session.get(Sku, sku.id)
    assert (sku.price, sku.stock) == (250, 5)

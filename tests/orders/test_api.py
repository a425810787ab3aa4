from __future__ import annotations

import pytest

from storefront.orders.status import OrderStatus

from ..factories import make_staff, make_user
from .factories import forget_cached_user, make_order, make_token, reload

API = "/api/v1"


@pytest.fixture
def buyer(app):
    user = make_user()
    user.headers = make_token(user)
    return user


@pytest.fixture
def staff(app):
    user = make_staff()
    user.headers = make_token(user)
    return user


def error_code(response):
    body = response.get_json()
    assert body and "error" in body, response.get_data(as_text=True)[:300]
    return body["error"]["code"]


def test_requires_token(client, app):
    order = make_order(make_user(), OrderStatus.PAID)
    assert client.get(f"{API}/orders").status_code == 401
    assert client.post(f"{API}/orders/{order.number}/cancel").status_code == 401
    assert error_code(client.get(f"{API}/staff/orders")) == "unauthorized"


def test_buyer_list_and_detail(client, buyer):
    orders = [make_order(buyer, OrderStatus.PAID, discount=300) for _ in range(3)]
    other = make_order(make_user(), OrderStatus.PAID)
    response = client.get(f"{API}/orders?limit=2", headers=buyer.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [o["number"] for o in body["orders"]] == [orders[2].number, orders[1].number]
    assert body["next_after"] == orders[1].id
    body = client.get(f"{API}/orders?limit=2&after={body['next_after']}", headers=buyer.headers).get_json()
    assert [o["number"] for o in body["orders"]] == [orders[0].number] and body["next_after"] is None
    detail = client.get(f"{API}/orders/{orders[0].number}", headers=buyer.headers).get_json()
    assert detail["status"] == "paid" and detail["lines"][0]["unit_price"]["amount"] == 5000
    assert detail["breakdown"]["total"]["amount"] == 5000 - 300 + 1000
    assert detail["breakdown"]["adjustments"][0]["amount"]["amount"] == -300
    assert client.get(f"{API}/orders/{other.number}", headers=buyer.headers).status_code == 404
    assert error_code(client.get(f"{API}/orders/{other.number}", headers=buyer.headers)) == "not_found"
    response = client.get(f"{API}/orders?status=bogus", headers=buyer.headers)
    assert response.status_code == 422 and error_code(response) == "validation_failed"
    assert client.get(f"{API}/orders?limit=0", headers=buyer.headers).status_code == 422


def test_buyer_actions(client, buyer):
    paid = make_order(buyer, OrderStatus.PAID)
    shipped = make_order(buyer, OrderStatus.SHIPPED)
    response = client.post(f"{API}/orders/{paid.number}/cancel", headers=buyer.headers)
    assert response.status_code == 200 and response.get_json()["status"] == "closed"
    response = client.post(f"{API}/orders/{shipped.number}/cancel", headers=buyer.headers)
    assert response.status_code == 409 and error_code(response) == "already_shipped"
    response = client.post(f"{API}/orders/{shipped.number}/confirm", headers=buyer.headers)
    assert response.status_code == 200 and response.get_json()["status"] == "completed"
    response = client.post(f"{API}/orders/{shipped.number}/confirm", headers=buyer.headers)
    assert response.status_code == 409 and error_code(response) == "invalid_transition"
    response = client.post(f"{API}/orders/{paid.number}/notes", headers=buyer.headers, json={"body": "hello"})
    assert response.status_code == 201 and response.get_json()["body"] == "hello"
    for bad in ({}, {"body": ""}, {"body": 5}, {"body": "x" * 1001}):
        response = client.post(f"{API}/orders/{paid.number}/notes", headers=buyer.headers, json=bad)
        assert response.status_code == 422 and error_code(response) == "validation_failed", bad
    response = client.post(f"{API}/orders/{paid.number}/notes", headers=buyer.headers, data="{not json",
                           content_type="application/json")
    assert response.status_code in (400, 422)
    response = client.post(f"{API}/orders/{paid.number}/notes", headers=buyer.headers, json={"body": "   "})
    assert response.status_code == 422 and error_code(response) == "validation_failed"
    other = make_order(make_user(), OrderStatus.PAID)
    for action in ("cancel", "confirm"):
        assert client.post(f"{API}/orders/{other.number}/{action}", headers=buyer.headers).status_code == 404
    assert reload(other).status == OrderStatus.PAID


def test_staff_endpoints_forbidden_for_buyers(client, buyer):
    order = make_order(buyer, OrderStatus.PAID)
    for method, url in (("get", "/staff/orders"), ("get", f"/staff/orders/{order.number}"),
                        ("post", f"/staff/orders/{order.number}/extend-auto-confirm")):
        response = getattr(client, method)(API + url, headers=buyer.headers)
        assert response.status_code == 403 and error_code(response) == "forbidden"
    response = client.post(f"{API}/staff/orders/{order.number}/ship", headers=buyer.headers,
                           json={"carrier": "ZTO", "tracking_number": "ZT123456"})
    assert response.status_code == 403
    assert reload(order).status == OrderStatus.PAID


def test_staff_list_and_detail(client, staff):
    buyer = make_user()
    paid = make_order(buyer, OrderStatus.PAID, ship_phone="13700000001")
    unpaid = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    body = client.get(f"{API}/staff/orders", headers=staff.headers).get_json()
    assert [o["number"] for o in body["orders"]] == [unpaid.number, paid.number]
    body = client.get(f"{API}/staff/orders?status=paid", headers=staff.headers).get_json()
    assert [o["number"] for o in body["orders"]] == [paid.number]
    body = client.get(f"{API}/staff/orders?q=13700000001", headers=staff.headers).get_json()
    assert [o["ship_phone"] for o in body["orders"]] == ["13700000001"]
    body = client.get(f"{API}/staff/orders?overdue_to_ship=true", headers=staff.headers).get_json()
    assert body["orders"] == []
    assert client.get(f"{API}/staff/orders?date_from=yesterday", headers=staff.headers).status_code == 422
    detail = client.get(f"{API}/staff/orders/{paid.number}", headers=staff.headers).get_json()
    assert detail["number"] == paid.number and detail["ship_phone"] == "13700000001"
    assert client.get(f"{API}/staff/orders/NOPE", headers=staff.headers).status_code == 404


def test_staff_actions(client, staff):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)
    url = f"{API}/staff/orders/{order.number}"
    for bad, field in (({"carrier": "ZTO"}, "tracking_number"),
                       ({"carrier": "Pigeon", "tracking_number": "ZT123456"}, "carrier"),
                       ({"carrier": "ZTO", "tracking_number": "bad no"}, "tracking_number")):
        response = client.post(f"{url}/ship", headers=staff.headers, json=bad)
        assert response.status_code == 422 and error_code(response) == "validation_failed"
    response = client.post(f"{url}/notes", headers=staff.headers, json={"body": "checked address", "flag": "blue"})
    assert response.status_code == 201 and response.get_json()["flag"] == "blue"
    response = client.post(f"{url}/notes", headers=staff.headers, json={"body": "x", "flag": "pink"})
    assert response.status_code == 422
    response = client.post(f"{url}/cancel", headers=staff.headers, json={"reason": "buyer_cancelled"})
    assert response.status_code == 422
    response = client.post(f"{url}/cancel", headers=staff.headers, json={"reason": "buyer_unreachable"})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "note"
    response = client.post(f"{url}/ship", headers=staff.headers, json={"carrier": "ZTO", "tracking_number": "ZT123456"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "shipped" and body["tracking_number"] == "ZT123456"
    assert [n["flag"] for n in body["notes"]] == ["blue"]
    assert any(not e["public"] for e in body["timeline"])
    response = client.post(f"{url}/extend-auto-confirm", headers=staff.headers)
    assert response.status_code == 200
    response = client.post(f"{url}/cancel", headers=staff.headers, json={"reason": "out_of_stock"})
    assert response.status_code == 409 and error_code(response) == "invalid_transition"
    # the buyer's view of the same order hides staff notes and private events
    buyer.headers = make_token(buyer)
    forget_cached_user()
    mine = client.get(f"{API}/orders/{order.number}", headers=buyer.headers).get_json()
    assert mine["notes"] == [] and all(e["public"] for e in mine["timeline"])


def test_staff_cancel(client, staff):
    order = make_order(make_user(), OrderStatus.PENDING_PAYMENT)
    response = client.post(f"{API}/staff/orders/{order.number}/cancel", headers=staff.headers,
                           json={"reason": "duplicate_order", "note": "same cart twice"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "closed" and body["closed_by_seller"] is True and body["close_reason"] == "duplicate_order"

"""JSON API: buyer and staff endpoints, stable error codes, permissions."""
from __future__ import annotations

import io
import json

import pytest

from plugins.aftersales.models import Case
from storefront.extensions import db

from .conftest import (bearer, fresh_case, make_staff, new_client, open_case, png_bytes, refunds_of, set_enabled,
                       shipped_order)

ADDRESS = "Returns desk, 88 Keji Road, Shenzhen"


@pytest.fixture(autouse=True)
def _on(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False, return_address=ADDRESS)


def _create(client, headers, order, **fields):
    data = {"order_number": order.number, "kind": "refund_shipped", "reason": "price_difference",
            "lines": json.dumps({str(order.lines[0].id): 1})}
    data.update(fields)
    return client.post("/api/v1/aftersales/cases", data=data, headers=headers, content_type="multipart/form-data")


def test_buyer_creates_lists_shows_messages_cancels(app, buyer):
    order = shipped_order(buyer)
    headers = bearer(buyer)
    c = new_client(app)
    response = _create(c, headers, order, amount="1200")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "requested" and body["amount_requested"] == 1200
    assert body["events"][0]["kind"] == "requested" and body["events"][0]["actor_kind"] == "buyer"
    number = body["number"]
    assert [x["number"] for x in c.get("/api/v1/aftersales/cases", headers=headers).get_json()] == [number]
    assert c.get(f"/api/v1/aftersales/cases/{number}", headers=headers).status_code == 200
    r = c.post(f"/api/v1/aftersales/cases/{number}/messages", json={"body": "Any news?"}, headers=headers)
    assert r.status_code == 201 and r.get_json()["messages"][0]["body"] == "Any news?"
    r = c.post(f"/api/v1/aftersales/cases/{number}/cancel", headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    r = c.post(f"/api/v1/aftersales/cases/{number}/cancel", headers=headers)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "concurrent_update"


def test_buyer_api_errors_have_stable_codes(app, buyer, other_buyer):
    order = shipped_order(buyer)
    headers = bearer(buyer)
    c = new_client(app)
    r = _create(c, headers, order, amount="999999")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "amount_too_high"
    r = _create(c, headers, order, reason="quality", kind="return_refund")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "evidence_required"
    r = _create(c, headers, order, lines="not json")
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "lines"
    r = _create(c, headers, order, kind="bogus")
    assert r.status_code == 422
    r = _create(c, headers, order, kind="refund_unshipped")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "kind_not_available"
    r = _create(c, bearer(other_buyer), order)
    assert r.status_code == 404
    assert _create(c, {}, order).status_code == 401
    number = _create(c, headers, order).get_json()["number"]
    r = _create(c, headers, order)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "case_open"
    other = bearer(other_buyer)
    assert c.get(f"/api/v1/aftersales/cases/{number}", headers=other).status_code == 404
    assert c.post(f"/api/v1/aftersales/cases/{number}/cancel", headers=other).status_code == 404
    assert c.get("/api/v1/aftersales/cases").status_code == 401


def test_buyer_uploads_evidence_through_the_api(app, buyer):
    order = shipped_order(buyer)
    c = new_client(app)
    data = {"order_number": order.number, "kind": "return_refund", "reason": "quality",
            "lines": json.dumps({str(order.lines[0].id): 1}),
            "evidence": [(io.BytesIO(png_bytes()), "a.png")]}
    r = c.post("/api/v1/aftersales/cases", data=data, headers=bearer(buyer), content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    data["evidence"] = [(io.BytesIO(b"<svg onload=alert(1)>"), "x.png")]
    other = shipped_order(buyer)
    data["order_number"], data["lines"] = other.number, json.dumps({str(other.lines[0].id): 1})
    r = c.post("/api/v1/aftersales/cases", data=data, headers=bearer(buyer), content_type="multipart/form-data")
    assert r.status_code == 422 and r.get_json()["error"]["code"].startswith("image_")


def test_staff_return_flow_through_the_api(app, buyer, staff):
    from storefront.orders.status import OrderStatus

    from .conftest import reload

    order = shipped_order(buyer)
    case = open_case(order, buyer, kind="return_refund", reason="not_as_described", lines={order.lines[0].id: 1})
    h = bearer(staff)
    c = new_client(app)
    queue = c.get("/api/v1/admin/aftersales/cases?kind=return_refund", headers=h).get_json()
    assert [x["number"] for x in queue] == [case.number]
    assert c.get("/api/v1/admin/aftersales/cases?kind=nope", headers=h).status_code == 422
    base = f"/api/v1/admin/aftersales/cases/{case.number}"
    r = c.post(f"{base}/approve", json={}, headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "awaiting_return"
    assert r.get_json()["return_address"] == ADDRESS
    r = c.post(f"{base}/refund", json={}, headers=h)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "concurrent_update"
    buyer_h = bearer(buyer)
    r = c.post(f"/api/v1/aftersales/cases/{case.number}/tracking",
               json={"carrier": "SF Express", "tracking_number": "SF12345678"}, headers=buyer_h)
    assert r.status_code == 200 and r.get_json()["status"] == "returning"
    r = c.post(f"{base}/receive", json={"inspection_result": "maybe"}, headers=h)
    assert r.status_code == 422
    assert c.post(f"{base}/receive", json={"inspection_result": "restock"}, headers=h).status_code == 200
    assert c.post(f"{base}/note", json={"body": "Seal intact"}, headers=h).status_code == 200
    assert c.post(f"{base}/assign", json={"assignee_id": staff.id, "category": "difficult"},
                  headers=h).status_code == 200
    r = c.post(f"{base}/refund", json={"amount": 100000}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "amount_out_of_range"
    r = c.post(f"{base}/refund", json={}, headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert sum(x.amount for x in refunds_of(order.id)) == order.total
    assert reload(order).status == OrderStatus.CLOSED
    staff_view = c.get(base, headers=h).get_json()
    assert "note" in [e["kind"] for e in staff_view["events"]] and staff_view["category"] == "difficult"
    buyer_view = c.get(f"/api/v1/aftersales/cases/{case.number}", headers=buyer_h).get_json()
    assert "note" not in [e["kind"] for e in buyer_view["events"]] and "category" not in buyer_view


def test_staff_api_permissions(app, buyer, staff, owner):
    from plugins.aftersales import actions

    order = shipped_order(buyer)
    case = open_case(order, buyer)
    c = new_client(app)
    assert c.get("/api/v1/admin/aftersales/cases", headers=bearer(buyer)).status_code == 403
    assert c.post(f"/api/v1/admin/aftersales/cases/{case.number}/approve", json={},
                  headers=bearer(buyer)).status_code == 403
    assert c.get("/api/v1/admin/aftersales/cases").status_code == 401
    assert c.get("/api/v1/admin/aftersales/cases/NOPE", headers=bearer(staff)).status_code == 404
    actions.reject(case, staff, "no")
    second = open_case(order, buyer)
    r = c.post(f"/api/v1/admin/aftersales/cases/{second.number}/refund", json={}, headers=bearer(staff))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "escalated_owner_only"
    r = c.post(f"/api/v1/admin/aftersales/cases/{second.number}/reject", json={"reason": "Seal broken"},
               headers=bearer(owner))
    assert r.status_code == 200 and r.get_json()["escalation_decision"] == "seller"
    assert fresh_case(second).status == "rejected"


def test_reship_through_the_api(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer, kind="exchange", reason="changed_mind", lines={order.lines[0].id: 1})
    c = new_client(app)
    r = c.post(f"/api/v1/admin/aftersales/cases/{case.number}/reship",
               json={"carrier": "SF Express", "tracking_number": "bad!"}, headers=bearer(staff))
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "tracking_number"
    r = c.post(f"/api/v1/admin/aftersales/cases/{case.number}/reship",
               json={"carrier": "SF Express", "tracking_number": "SF12345678"}, headers=bearer(staff))
    assert r.status_code == 200 and r.get_json()["status"] == "reshipped"


def test_api_404_while_disabled(app, buyer):
    set_enabled(False)
    c = new_client(app)
    assert c.get("/api/v1/aftersales/cases", headers=bearer(buyer)).status_code == 404
    assert c.get("/api/v1/admin/aftersales/cases", headers=bearer(make_staff())).status_code == 404
    assert db.session.query(Case).count() == 0

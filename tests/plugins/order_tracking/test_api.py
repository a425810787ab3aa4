"""API: tracking by order (buyer token or staff), guest lookup, staff events, OpenAPI document."""
from __future__ import annotations

import pytest

from plugins.order_tracking import services
from plugins.order_tracking.models import ParcelEvent
from storefront.extensions import db
from tests.factories import make_user
from tests.orders.factories import make_token

from .conftest import enable
from .helpers import shipped_order


@pytest.fixture
def order(app, enabled, buyer, staff):
    return shipped_order(buyer, staff, ship_phone="13900001234")


def test_buyer_token_reads_own_tracking(client, order, buyer):
    r = client.get(f"/api/v1/tracking/orders/{order.number}", headers=make_token(buyer))
    assert r.status_code == 200, r.get_data(as_text=True)
    data = r.get_json()
    assert data["number"] == order.number and data["status"] == "shipped"
    assert data["parcels"][0]["tracking_number"] == order.tracking_number
    assert data["parcels"][0]["url"].endswith(order.tracking_number)
    assert [s["key"] for s in data["steps"]][:3] == ["ordered", "paid", "shipped"]
    assert data["masked"] is None


def test_other_buyer_404_anonymous_401_staff_200(client, order, staff):
    assert client.get(f"/api/v1/tracking/orders/{order.number}",
                      headers=make_token(make_user())).status_code == 404
    r = client.get(f"/api/v1/tracking/orders/{order.number}")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert client.get(f"/api/v1/tracking/orders/{order.number}", headers=make_token(staff)).status_code == 200


def test_guest_lookup_api_masks_and_hides_existence(client, order):
    r = client.post("/api/v1/tracking/lookup", json={"number": order.number, "contact": "13900001234"})
    assert r.status_code == 200 and r.get_json()["masked"]["phone"] == "139****1234"
    wrong = client.post("/api/v1/tracking/lookup", json={"number": order.number, "contact": "1"})
    unknown = client.post("/api/v1/tracking/lookup", json={"number": "NOPE", "contact": "1"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_json() == unknown.get_json()
    bad = client.post("/api/v1/tracking/lookup", json={"number": 5})
    assert bad.status_code == 422


def test_staff_add_event_api(client, order, staff, buyer):
    parcel = services.parcels_of(order.id)[0]
    body = {"at": "2026-01-01T10:00:00Z", "status": "in_transit", "location": "Wuhan"}
    assert client.post(f"/api/v1/tracking/parcels/{parcel.id}/events", json=body,
                       headers=make_token(buyer)).status_code == 403
    r = client.post(f"/api/v1/tracking/parcels/{parcel.id}/events", json=body, headers=make_token(staff))
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["location"] == "Wuhan"
    bad = client.post(f"/api/v1/tracking/parcels/{parcel.id}/events", json={**body, "status": "lost"},
                      headers=make_token(staff))
    assert bad.status_code == 422
    assert client.post("/api/v1/tracking/parcels/999999/events", json=body,
                       headers=make_token(staff)).status_code == 404
    db.session.rollback()
    assert db.session.query(ParcelEvent).count() == 1


def test_disabled_api_is_404(client, order, buyer):
    enable(enabled=False)
    assert client.get(f"/api/v1/tracking/orders/{order.number}", headers=make_token(buyer)).status_code == 404
    assert client.post("/api/v1/tracking/lookup", json={"number": "x", "contact": "y"}).status_code == 404


def test_openapi_documents_the_endpoints(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path in ("/api/v1/tracking/orders/{number}", "/api/v1/tracking/lookup", "/api/v1/tracking/webhook",
                 "/api/v1/tracking/parcels/{parcel_id}/events"):
        assert path in paths, sorted(paths)
    hook = paths["/api/v1/tracking/webhook"]["post"]
    assert {p["name"] for p in hook["parameters"]} >= {"X-Tracking-Signature", "X-Tracking-Timestamp"}

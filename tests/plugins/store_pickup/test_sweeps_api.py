"""Uncollected pickups (reminder, cancellation with refund, concurrent sweeps), the API, demo data."""
from __future__ import annotations

import threading
from datetime import timedelta

from plugins.store_pickup import pickups, services, sweeps
from plugins.store_pickup.models import Location, Pickup
from storefront.catalog.models import Sku
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.notify.models import InboxMessage, OutboxMessage
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import OrderStatus
from storefront.payments.models import Refund
from tests.factories import make_product, make_user

from .conftest import bearer, place_pickup_order, set_enabled


def _ready_order(location, staff, product=None):
    order = place_pickup_order(make_user(), location, product=product)
    pickup = db.session.execute(db.select(Pickup).where(Pickup.order_id == order.id)).scalar_one()
    pickups.mark_ready(pickup.id, staff)
    db.session.expire_all()
    return order, pickup


def _events(order, kind):
    return db.session.execute(db.select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                          OrderEvent.kind == kind)).scalars().all()


def test_reminder_after_n_days_once(app, location, staff):
    set_enabled(True, remind_after_days=2, cancel_after_days=5)
    order, pickup = _ready_order(location, staff)
    now = utcnow()
    assert sweeps.sweep(now + timedelta(days=1))["pickups_reminded"] == 0
    assert sweeps.sweep(now + timedelta(days=2, minutes=1))["pickups_reminded"] == 1
    assert sweeps.sweep(now + timedelta(days=3))["pickups_reminded"] == 0
    assert len(_events(order, "pickup_reminder")) == 1
    inbox = db.session.execute(db.select(InboxMessage).where(InboxMessage.kind == "store_pickup_reminder")).scalar_one()
    assert order.number in inbox.body and location.name in inbox.body and inbox.user_id == order.user_id
    outbox = db.session.execute(db.select(OutboxMessage).where(OutboxMessage.kind == "store_pickup_reminder")).scalar_one()
    assert outbox.order_id == order.id and outbox.status == "pending"


def test_uncollected_order_is_cancelled_refunded_and_restocked(app, location, staff):
    set_enabled(True, remind_after_days=2, cancel_after_days=5)
    product = make_product(stock=10, price=5000)
    order, pickup = _ready_order(location, staff, product=product)
    counts = sweeps.sweep(utcnow() + timedelta(days=5, minutes=1))
    assert counts["pickups_cancelled"] == 1
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.CLOSED and order.refunded_total == order.total
    assert db.session.get(Pickup, pickup.id).status == "cancelled"
    assert db.session.get(Pickup, pickup.id).open_code is None
    assert db.session.get(Sku, product.skus[0].id).stock == 10
    assert db.session.execute(db.select(Refund).where(Refund.order_id == order.id)).scalar_one().amount == order.total
    assert len(_events(order, "pickup_uncollected")) == 1
    assert sweeps.sweep(utcnow() + timedelta(days=6))["pickups_cancelled"] == 0


def test_concurrent_sweeps_cancel_once(app, location, staff):
    set_enabled(True, remind_after_days=2, cancel_after_days=5)
    orders = [_ready_order(location, staff)[0] for _ in range(3)]
    later = utcnow() + timedelta(days=5, minutes=1)
    results = []
    barrier = threading.Barrier(4)

    def run():
        with app.app_context():
            barrier.wait(timeout=120)
            try:
                results.append(sweeps.sweep(later)["pickups_cancelled"])
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.rollback()
    assert sum(results) == 3, results
    for order in orders:
        assert len(_events(order, "pickup_uncollected")) == 1
        assert len(db.session.execute(db.select(Refund).where(Refund.order_id == order.id)).scalars().all()) == 1


def test_collected_pickup_is_never_cancelled(app, location, staff):
    set_enabled(True, cancel_after_days=1)
    order, pickup = _ready_order(location, staff)
    pickups.verify_code(location.id, pickup.code, staff)
    counts = sweeps.sweep(utcnow() + timedelta(days=3))
    assert counts["pickups_cancelled"] == 0 and counts["pickups_reminded"] == 0


# -- API ----------------------------------------------------------------------------------
def test_api_locations_and_slots(app, client, location):
    body = client.get("/api/v1/pickup/locations").get_json()
    assert [row["name"] for row in body] == [location.name] and body[0]["hours"]["0"] == "00:00-24:00"
    slots = client.get(f"/api/v1/pickup/locations/{location.id}/slots").get_json()
    assert slots[0]["key"] == services.available_slots(location)[0].key
    assert client.get("/api/v1/pickup/locations/999/slots").status_code == 404


def test_api_staff_ready_and_verify(app, client, location, staff, buyer):
    order = place_pickup_order(buyer, location)
    pickup = db.session.execute(db.select(Pickup)).scalar_one()
    headers = bearer(staff)
    assert client.post(f"/api/v1/pickup/pickups/{pickup.id}/ready", headers=bearer(buyer)).status_code == 403
    assert client.post(f"/api/v1/pickup/pickups/{pickup.id}/ready").status_code == 401
    response = client.post(f"/api/v1/pickup/pickups/{pickup.id}/ready", headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "ready"
    db.session.expire_all()
    code = db.session.get(Pickup, pickup.id).code
    response = client.post(f"/api/v1/pickup/locations/{location.id}/verify", headers=headers, json={"code": "1"})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "code"
    response = client.post(f"/api/v1/pickup/locations/{location.id}/verify", headers=headers, json={"code": code})
    assert response.status_code == 200 and response.get_json()["status"] == "collected"
    assert db.session.get(Order, order.id).status == OrderStatus.COMPLETED


def test_api_checkout_with_extra(app, client, location, buyer):
    from .conftest import fill_cart

    fill_cart(buyer, make_product().skus[0].id)
    slot = services.available_slots(location)[0]
    body = {"idempotency_key": "pickup-api-key-1", "delivery_code": "store_pickup",
            "extra": {"store_pickup_slot": slot.key, "store_pickup_name": "Li", "store_pickup_phone": "13900000000"}}
    response = client.post("/api/v1/checkout", headers=bearer(buyer), json=body)
    assert response.status_code == 201, response.get_json()
    assert db.session.execute(db.select(Pickup)).scalar_one().contact_name == "Li"


def test_api_is_404_when_disabled_and_in_the_openapi_document(app, client, location):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    paths = spec.get_json()["paths"]
    assert "/api/v1/pickup/locations/{location_id}/verify" in paths
    assert "/api/v1/pickup/pickups/{pickup_id}/ready" in paths
    set_enabled(False)
    assert client.get("/api/v1/pickup/locations").status_code == 404


def test_demo_data_adds_two_locations(app):
    from plugins.store_pickup.hooks import demo_data

    demo_data(utcnow())
    db.session.commit()
    names = sorted(db.session.execute(db.select(Location.name)).scalars())
    assert names == ["Hanoi Hoàn Kiếm store", "Shanghai Jing'an store"]

"""What happens while the plugin is off: reconciliation when it is back on (exactly once, also
under concurrent sweeps), staff pages that stay serviceable, and timeline wording."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from plugins.store_pickup import pickups, sweeps
from plugins.store_pickup.labels import event_label
from plugins.store_pickup.models import LocationStock, Pickup, SlotUsage
from storefront.clock import utcnow
from storefront.errors import TransitionVetoed
from storefront.extensions import db
from storefront.orders.models import Order, OrderEvent
from storefront.orders.services import cancel_by_buyer, ship_order
from storefront.orders.status import OrderStatus
from tests.factories import make_product, make_user

from .conftest import bearer, make_location, place_pickup_order, set_enabled, sign_in, thread_client


def _pickup(order) -> Pickup:
    db.session.expire_all()
    return db.session.execute(db.select(Pickup).where(Pickup.order_id == order.id)).scalar_one()


def _store_qty(location, sku_id):
    db.session.expire_all()
    return db.session.execute(db.select(LocationStock.quantity).where(
        LocationStock.location_id == location.id, LocationStock.sku_id == sku_id)).scalar()


def _slot_used(pickup):
    return db.session.execute(db.select(SlotUsage.used).where(
        SlotUsage.location_id == pickup.location_id, SlotUsage.slot_start == pickup.slot_start)).scalar()


def _events(order, kind):
    return db.session.execute(db.select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                          OrderEvent.kind == kind)).scalars().all()


def _place(location, stock):
    from plugins.store_pickup import stock as stocklib

    set_enabled(True)
    product = make_product(stock=10)
    stocklib.set_stock(location.id, product.skus[0].id, stock)
    buyer = make_user()
    return buyer, place_pickup_order(buyer, location, product=product), product.skus[0].id


def _order_closed_while_disabled(location, stock=2):
    buyer, order, sku_id = _place(location, stock)
    set_enabled(False)
    cancel_by_buyer(db.session.get(Order, order.id), buyer)
    return order, sku_id


def _order_closed_unheard(location, monkeypatch, stock=2):
    """A close whose release never ran (the process died right after the commit)."""
    buyer, order, sku_id = _place(location, stock)
    with monkeypatch.context() as patch:
        patch.setattr(pickups, "release_for_closed_order", lambda order_id: False)
        cancel_by_buyer(db.session.get(Order, order.id), buyer)
    return order, sku_id


# -- reconciliation -----------------------------------------------------------------------
def test_order_closed_while_disabled_gives_slot_and_stock_back_at_once(app, location):
    # The release on close is a lasting hook: the switch does not silence it.
    order, sku_id = _order_closed_while_disabled(location)
    pickup = _pickup(order)
    assert pickup.status == "cancelled" and pickup.released_at is not None and pickup.open_code is None
    assert _slot_used(pickup) == 0 and _store_qty(location, sku_id) == 2
    set_enabled(True)
    assert sweeps.sweep(utcnow())["pickups_released"] == 0
    assert len(_events(order, "pickup_released")) == 1


def test_a_release_that_never_ran_is_reconciled_once_by_the_sweep(app, location, monkeypatch):
    order, sku_id = _order_closed_unheard(location, monkeypatch)
    pickup = _pickup(order)
    assert pickup.status == "preparing" and pickup.released_at is None  # nobody heard the close
    assert _slot_used(pickup) == 1 and _store_qty(location, sku_id) == 1
    assert sweeps.sweep(utcnow())["pickups_released"] == 1
    pickup = _pickup(order)
    assert pickup.status == "cancelled" and pickup.released_at is not None and pickup.open_code is None
    assert _slot_used(pickup) == 0 and _store_qty(location, sku_id) == 2
    assert sweeps.sweep(utcnow())["pickups_released"] == 0
    assert pickups.release_for_closed_order(order.id) is False
    assert _slot_used(pickup) == 0 and _store_qty(location, sku_id) == 2
    assert len(_events(order, "pickup_released")) == 1


def test_concurrent_reconciling_sweeps_give_back_once(app, location, monkeypatch):
    orders = [_order_closed_unheard(location, monkeypatch, stock=3)[0] for _ in range(3)]
    results, barrier = [], threading.Barrier(4, timeout=120)

    def run():
        with app.app_context():
            barrier.wait()
            try:
                results.append(sweeps.sweep(utcnow())["pickups_released"])
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
        pickup = _pickup(order)
        assert _slot_used(pickup) == 0
        assert len(_events(order, "pickup_released")) == 1
        sku_id = db.session.get(Order, order.id).lines[0].sku_id
        assert _store_qty(location, sku_id) == 3


def test_core_cannot_ship_or_complete_a_pickup_order_while_disabled(app, location, staff):
    # The status guard is a lasting hook: the core's "ship" would skip the counter.
    buyer = make_user()
    order = place_pickup_order(buyer, location)
    set_enabled(False)
    with pytest.raises(TransitionVetoed):
        ship_order(db.session.get(Order, order.id), staff, "SF Express", "SF1234567890")
    db.session.rollback()
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    assert _pickup(order).status == "preparing"


def test_disabled_plugin_sweep_hook_does_nothing(app, location, monkeypatch):
    from storefront.plugins import hooks

    order, sku_id = _order_closed_unheard(location, monkeypatch)
    set_enabled(False)
    results = [r for r in hooks().sweep(now=utcnow()) if r and "pickups_released" in r]
    assert results == [] and _pickup(order).released_at is None


# -- staff pages while disabled ------------------------------------------------------------
def test_staff_pages_while_disabled_serve_only_open_pickups(app, client, location, staff):
    sign_in(client, staff)
    set_enabled(False)
    assert client.get("/admin/pickup/").status_code == 404  # nothing to serve
    assert client.get(f"/admin/pickup/counter/{location.id}").status_code == 404
    set_enabled(True)
    order = place_pickup_order(make_user(), location)
    set_enabled(False)
    page = client.get("/admin/pickup/").get_data(as_text=True)
    assert order.number in page and "only the open pickups below can still be served" in page
    assert f"/admin/pickup/locations/{location.id}/stock" not in page  # no links to pages that 404
    assert client.get(f"/admin/pickup/counter/{location.id}").status_code == 200
    assert client.get(f"/admin/pickup/locations/{location.id}").status_code == 404  # editing waits
    assert client.get(f"/admin/pickup/locations/{location.id}/stock").status_code == 404
    pickups.mark_ready(_pickup(order).id, staff)
    response = client.post(f"/admin/pickup/counter/{location.id}/verify", data={"code": _pickup(order).code})
    assert response.status_code == 302 and _pickup(order).status == "collected"
    assert client.get("/admin/pickup/").status_code == 404  # done: the plugin is fully off again


def test_disabled_staff_pages_still_need_staff(app, client, location):
    place_pickup_order(make_user(), location)
    set_enabled(False)
    assert client.get("/admin/pickup/").status_code == 302
    sign_in(client, make_user())
    assert client.get("/admin/pickup/").status_code == 403
    assert client.post(f"/admin/pickup/counter/{location.id}/verify", data={"code": "12345678"}).status_code == 403


# -- timeline wording ---------------------------------------------------------------------
def test_every_event_kind_has_a_sentence():
    def ev(kind, **data):
        return SimpleNamespace(kind=kind, data=data)

    assert event_label(ev("pickup_ready", store="Central")).startswith("Ready for pickup at Central")
    assert event_label(ev("pickup_ready")).startswith("Ready for pickup;")
    assert event_label(ev("pickup_reminder")) == "The buyer was reminded to collect the order"
    assert event_label(ev("pickup_collected", store="Central")) == "Collected at Central"
    assert event_label(ev("pickup_collected")) == "Collected in store"
    assert event_label(ev("pickup_collected", reconciled=True)).startswith("Marked collected")
    assert event_label(ev("pickup_uncollected")).startswith("Not collected in time")
    assert event_label(ev("pickup_released")) == "Pickup time and store stock given back"
    assert event_label(ev("shipped")) is None and event_label(ev("status")) is None


def test_timeline_reads_properly_while_the_plugin_is_disabled(app, client, staff):
    set_enabled(True)
    location = make_location(name="Central store")
    buyer = make_user()
    order = place_pickup_order(buyer, location)
    pickups.mark_ready(_pickup(order).id, staff)
    pickups.verify_code(location.id, _pickup(order).code, staff)
    set_enabled(False)
    sign_in(client, buyer)
    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Ready for pickup at Central store; the buyer was sent the pickup code" in page
    assert "Collected at Central store" in page
    assert "Pickup ready" not in page and "Pickup collected" not in page  # not the core's fallback
    staff_client = thread_client(app)
    sign_in(staff_client, staff)
    assert "Collected at Central store" in staff_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    body = thread_client(app).get(f"/api/v1/orders/{order.number}", headers=bearer(buyer)).get_json()
    texts = [row["text"] for row in body["timeline"]] if body and "timeline" in body else []
    assert "Collected at Central store" in texts, body
    assert db.session.get(Order, order.id).status == OrderStatus.COMPLETED

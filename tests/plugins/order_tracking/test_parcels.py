"""Parcels and events: created on shipment, added by staff, delivered on the timeline, stuck list."""
from __future__ import annotations

from datetime import timedelta

import pytest

from plugins.order_tracking import services
from plugins.order_tracking.models import Parcel, ParcelEvent
from storefront.clock import utcnow
from storefront.errors import Forbidden, ValidationFailed
from storefront.extensions import db
from storefront.orders.models import OrderEvent
from tests.factories import login

from .helpers import OrderStatus, age_parcels, make_order, reload, shipped_order


def test_shipping_creates_the_first_parcel(app, enabled, buyer, staff):
    order = shipped_order(buyer, staff, carrier="sf express", tracking="SF0001")
    parcels = services.parcels_of(order.id)
    assert [(p.carrier_code, p.carrier_name, p.tracking_number) for p in parcels] == [("sf", "SF Express", "SF0001")]
    services.parcel_on_shipped(reload(order))  # the hook twice: still one parcel
    assert db.session.query(Parcel).count() == 1


def test_no_parcel_while_disabled(app, buyer, staff):
    shipped_order(buyer, staff)
    assert db.session.query(Parcel).count() == 0


def test_staff_add_second_parcel_and_events(app, client, enabled, buyer, staff):
    order = shipped_order(buyer, staff)
    login(client, staff)
    r = client.post(f"/admin/tracking/orders/{order.number}/parcels",
                    data={"parcel-carrier": "zto", "parcel-tracking_number": "ZT778899"})
    assert r.status_code == 302, r.get_data(as_text=True)[:400]
    parcels = services.parcels_of(order.id)
    assert [p.carrier_name for p in parcels] == ["SF Express", "ZTO"]
    when = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    r = client.post(f"/admin/tracking/orders/{order.number}/parcels/{parcels[1].id}/events",
                    data={"event-at": when, "event-status": "in_transit", "event-location": "Hangzhou",
                          "event-description": "Left the hub"})
    assert r.status_code == 302
    db.session.rollback()
    ev = db.session.query(ParcelEvent).one()
    assert (ev.status, ev.location, ev.source) == ("in_transit", "Hangzhou", "staff")
    assert db.session.get(Parcel, parcels[1].id).last_status == "in_transit"
    page = client.get(f"/admin/tracking/orders/{order.number}").get_data(as_text=True)
    assert "ZT778899" in page and "Left the hub" in page


def test_parcel_bad_input(app, client, enabled, buyer, staff):
    order = shipped_order(buyer, staff)
    login(client, staff)
    r = client.post(f"/admin/tracking/orders/{order.number}/parcels",
                    data={"parcel-carrier": "zto", "parcel-tracking_number": "no spaces!"})
    assert r.status_code == 422 and "4 to 40" in r.get_data(as_text=True)
    r = client.post(f"/admin/tracking/orders/{order.number}/parcels",
                    data={"parcel-carrier": "sf", "parcel-tracking_number": order.tracking_number})
    assert r.status_code == 422 and "already has" in r.get_data(as_text=True)
    parcel = services.parcels_of(order.id)[0]
    future = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = client.post(f"/admin/tracking/orders/{order.number}/parcels/{parcel.id}/events",
                    data={"event-at": future, "event-status": "in_transit"})
    assert r.status_code == 422 and "plausible" in r.get_data(as_text=True)
    assert db.session.query(Parcel).count() == 1 and db.session.query(ParcelEvent).count() == 0


def test_parcel_of_another_order_is_404(app, client, enabled, buyer, staff):
    a = shipped_order(buyer, staff, tracking="SFA0001")
    b = shipped_order(buyer, staff, tracking="SFB0002")
    login(client, staff)
    pb = services.parcels_of(b.id)[0]
    r = client.post(f"/admin/tracking/orders/{a.number}/parcels/{pb.id}/events",
                    data={"event-at": utcnow().strftime("%Y-%m-%dT%H:%M"), "event-status": "info"})
    assert r.status_code == 404


def test_unpaid_order_gets_no_parcel(app, enabled, staff):
    order = make_order(None, OrderStatus.PAID)
    with pytest.raises(ValidationFailed):
        services.add_parcel(order, staff, "sf", "SF9999")


def test_buyer_cannot_add_events(app, enabled, buyer, staff):
    order = shipped_order(buyer, staff)
    parcel = services.parcels_of(order.id)[0]
    with pytest.raises(Forbidden):
        services.add_event(parcel.id, buyer, {"at": utcnow(), "status": "info"})
    assert db.session.query(ParcelEvent).count() == 0


def test_delivered_is_recorded_once_on_the_timeline_without_status_change(app, enabled, buyer, staff):
    order = shipped_order(buyer, staff)
    parcel = services.parcels_of(order.id)[0]
    for _ in range(2):
        services.add_event(parcel.id, staff, {"at": utcnow(), "status": "delivered", "location": "Door"})
    events = db.session.query(OrderEvent).filter_by(order_id=order.id, kind="parcel_delivered").all()
    assert len(events) == 1 and events[0].source == "order_tracking" and events[0].public
    assert reload(order).status == OrderStatus.SHIPPED


def test_stuck_list_keyset_and_page(app, client, enabled, buyer, staff):
    orders = [shipped_order(buyer, staff, tracking=f"SF00{i}") for i in range(3)]
    fresh = shipped_order(buyer, staff, tracking="SF0FRESH")
    for o in orders:
        age_parcels(o.id, 5)
    delivered = orders[2]
    services.add_event(services.parcels_of(delivered.id)[0].id, staff,
                       {"at": utcnow() - timedelta(days=4), "status": "delivered"})
    rows, after = services.stuck_parcels(limit=1)
    assert [p.order_id for p in rows] == [orders[0].id] and after is not None
    rows2, after2 = services.stuck_parcels(limit=1, after_id=after)
    assert [p.order_id for p in rows2] == [orders[1].id] and after2 is None
    login(client, staff)
    page = client.get("/admin/tracking/stuck").get_data(as_text=True)
    assert orders[0].number in page and orders[1].number in page
    assert fresh.number not in page and delivered.number not in page


def test_recent_event_unsticks(app, enabled, buyer, staff):
    order = shipped_order(buyer, staff)
    age_parcels(order.id, 5)
    assert len(services.stuck_parcels()[0]) == 1
    services.add_event(services.parcels_of(order.id)[0].id, staff, {"at": utcnow(), "status": "in_transit"})
    assert services.stuck_parcels()[0] == []


def test_stuck_pages_need_staff(app, client, enabled, buyer):
    login(client, buyer)
    assert client.get("/admin/tracking/stuck").status_code in (403, 404)


def test_settings_form_saves_and_applies(app, client, enabled, buyer, staff):
    from tests.factories import make_staff

    owner = make_staff(role="owner")
    login(client, owner)
    r = client.post("/admin/plugins/order_tracking/settings", data={
        "order_tracking-webhook_secret": "short", "order_tracking-stuck_days": "7",
        "order_tracking-signed_link_days": "30"})
    assert r.status_code == 422  # the secret is too short
    r = client.post("/admin/plugins/order_tracking/settings", data={
        "order_tracking-webhook_secret": "a-long-enough-secret-123", "order_tracking-stuck_days": "7",
        "order_tracking-signed_link_days": "30"})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    db.session.rollback()
    order = shipped_order(buyer, staff)
    age_parcels(order.id, 5)
    assert services.settings()["stuck_days"] == 7
    assert services.stuck_parcels()[0] == []


def test_admin_order_page_links_to_parcels(app, client, enabled, buyer, staff):
    order = shipped_order(buyer, staff)
    login(client, staff)
    html = client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert f"/admin/tracking/orders/{order.number}" in html


def test_an_orders_parcels_come_with_their_events_in_time_order_in_two_statements(app, enabled, buyer, staff):
    from tests.perf.conftest import count_queries

    order = shipped_order(buyer, staff, carrier="sf express", tracking="SF0002")
    first = services.parcels_of(order.id)[0]
    second = Parcel(order_id=order.id, carrier_code="zto", carrier_name="ZTO", tracking_number="ZT1",
                    created_at=utcnow(), last_event_at=utcnow(), last_status="")
    db.session.add(second)
    db.session.flush()
    now = utcnow()
    # Written out of time order; the same moment twice is told apart by id.
    db.session.add_all([ParcelEvent(parcel_id=first.id, at=now, status="in_transit", description="b"),
                        ParcelEvent(parcel_id=first.id, at=now - timedelta(hours=2), status="in_transit",
                                    description="a"),
                        ParcelEvent(parcel_id=first.id, at=now, status="in_transit", description="c")])
    db.session.commit()
    order_id, second_id = order.id, second.id
    db.session.expunge_all()
    with count_queries() as seen:
        parcels = services.parcels_of(order_id)
        shown = [(p.id, [e.description for e in p.events if e.description in ("a", "b", "c")]) for p in parcels]
    assert len(seen) == 2
    assert shown[1] == (second_id, [])
    assert shown[0][1] == ["a", "b", "c"]

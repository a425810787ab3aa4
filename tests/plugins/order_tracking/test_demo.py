"""Demo data: preset carriers, parcels and events for the demo's shipped orders."""
from __future__ import annotations

from plugins.order_tracking import hooks, services
from plugins.order_tracking.models import Carrier, Parcel, ParcelEvent
from storefront.clock import utcnow
from storefront.extensions import db

from .helpers import OrderStatus, make_order


def test_demo_data_tracks_shipped_orders(app, buyer):
    shipped = [make_order(buyer, OrderStatus.SHIPPED) for _ in range(3)]
    make_order(buyer, OrderStatus.PAID)
    hooks.demo_data(utcnow())
    db.session.commit()
    assert db.session.query(Carrier).count() == 10
    assert sorted(p.order_id for p in db.session.query(Parcel)) == sorted(o.id for o in shipped)
    assert db.session.query(ParcelEvent).count() == 5
    assert all(p.carrier_code == "sf" for p in db.session.query(Parcel))
    for o in shipped:
        assert services.parcels_of(o.id)


def test_demo_data_without_orders_only_adds_carriers(app):
    hooks.demo_data(utcnow())
    db.session.commit()
    assert db.session.query(Parcel).count() == 0 and db.session.query(Carrier).count() == 10

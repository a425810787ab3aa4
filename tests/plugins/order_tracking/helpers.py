"""Orders for the tracking tests: shipped through the core service so the hook runs."""
from __future__ import annotations

from datetime import timedelta

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.services import ship_order
from storefront.orders.status import OrderStatus
from tests.orders.factories import make_order, reload

__all__ = ["make_order", "reload", "shipped_order", "OrderStatus"]


def shipped_order(buyer, staff, carrier="SF Express", tracking="SF1234567890", **kw):
    """A paid order shipped through ``ship_order`` (the ``order_event`` hook creates its parcel)."""
    order = make_order(buyer, OrderStatus.PAID, **kw)
    ship_order(order, staff, carrier, tracking)
    db.session.commit()
    return reload(order)


def age_parcels(order_id: int, days: int) -> None:
    from plugins.order_tracking.models import Parcel

    past = utcnow() - timedelta(days=days)
    db.session.query(Parcel).filter(Parcel.order_id == order_id).update(
        {"created_at": past, "last_event_at": past})
    db.session.commit()

"""``flask storefront bench-data``: consistent orders, usable by the real pages, appendable."""
from __future__ import annotations

from sqlalchemy import func, select, text

from storefront.accounts.models import User
from storefront.benchdata import GeneratorConfig, generate
from storefront.extensions import db
from storefront.orders.models import Order, OrderLine
from storefront.orders.status import OrderStatus
from tests.conftest import new_client
from tests.factories import make_product, make_user, set_plugin_state, sign_in


def _generate(orders: int, seed: int = 3) -> dict[str, int]:
    db.session.commit()
    counts = generate(GeneratorConfig(orders=orders, buyers=40, products=12, seed=seed), db.engine, db.metadata,
                      log=lambda _line: None)
    db.session.expire_all()
    return counts


def test_orders_add_up(app):
    counts = _generate(400)
    assert counts["orders"] == 400 and counts["payments"] == 400
    assert db.session.scalar(select(func.count()).select_from(Order)) == 400
    lines = dict(db.session.execute(select(OrderLine.order_id, func.sum(OrderLine.line_subtotal))
                                    .group_by(OrderLine.order_id)).all())
    statuses = set()
    for order in db.session.execute(select(Order)).scalars():
        statuses.add(order.status)
        assert order.subtotal == lines[order.id]
        assert order.total == order.subtotal - order.discount_total + order.shipping_total
        assert 0 <= order.refunded_total <= order.paid_total <= order.total
        assert order.payment.amount == order.total
        if order.status == OrderStatus.CLOSED:
            assert order.close_reason and order.closed_at
        if order.status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED):
            assert order.paid_at and order.payment.status == "paid" and order.paid_total == order.total
        if order.status == OrderStatus.COMPLETED:
            assert order.completed_at and order.shipped_at
    # A realistic mix, not one status.
    assert {OrderStatus.COMPLETED, OrderStatus.SHIPPED, OrderStatus.CLOSED} <= statuses
    assert counts.get("refunds", 0) > 0 and counts.get("order_events", 0) > 2 * 400
    if "order_tracking_parcels" in counts:
        assert counts["order_tracking_parcels"] > 0 and counts["order_tracking_events"] > 0


def test_generated_shop_serves_its_pages(app):
    _generate(200)
    set_plugin_state("order_tracking", True)
    number, user_id = db.session.execute(
        select(Order.number, Order.user_id).where(Order.status == OrderStatus.SHIPPED,
                                                  Order.delivery_code == "courier").limit(1)).one()
    buyer = db.session.get(User, user_id)
    client = new_client(app)
    sign_in(client, buyer)
    assert client.get("/orders/").status_code == 200
    assert client.get(f"/orders/{number}").status_code == 200
    assert client.get(f"/p/tracking/orders/{number}").status_code == 200
    owner = db.session.execute(select(User).where(User.role == "owner")).scalars().first()
    staff = new_client(app)
    sign_in(staff, owner)
    assert staff.get("/admin/orders").status_code == 200
    assert staff.get("/admin/orders?status=paid").status_code == 200
    assert staff.get("/admin/").status_code == 200
    anonymous = new_client(app)
    slug = db.session.execute(text("SELECT slug FROM products ORDER BY id LIMIT 1")).scalar_one()
    assert anonymous.get(f"/products/{slug}").status_code == 200


def test_appends_and_leaves_ids_usable(app):
    _generate(60, seed=1)
    _generate(60, seed=2)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 120
    # Rows made by the application afterwards get fresh ids (PostgreSQL sequences were moved on).
    make_user()
    make_product()
    db.session.commit()

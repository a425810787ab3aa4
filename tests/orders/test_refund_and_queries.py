"""Closing a paid order refunds it once; list pages do not grow queries with rows."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select

from storefront.extensions import db
from storefront.orders import services
from storefront.orders.models import OrderEvent
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor
from storefront.payments.models import Refund

from ..factories import make_staff, make_user
from ..perf.conftest import ORDER_ROW, count_queries
from .factories import make_order, reload, session_login


def test_closing_a_paid_order_refunds_it_once(app):
    pytest.importorskip("storefront.payments.services")
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID, discount=200)
    with app.test_request_context("/"):
        services.cancel_by_buyer(order, buyer)
    refunds = list(db.session.execute(select(Refund)).scalars())
    assert [(r.order_id, r.amount, r.idempotency_key) for r in refunds] == [(order.id, order.total, f"close-{order.id}")]
    order = reload(order)
    assert order.refunded_total == order.total and order.status == OrderStatus.CLOSED
    kinds = [e.kind for e in db.session.execute(select(OrderEvent).where(OrderEvent.order_id == order.id)).scalars()]
    assert kinds.count("status") == 1 and kinds.count("refund") == 1


def test_a_refund_does_not_read_its_order_again_while_holding_the_write_lock(app):
    from storefront.payments.services import refund

    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)
    order.currency  # noqa: B018 - read, as a caller has before it refunds
    with count_queries() as seen:
        row = refund(order=order, amount=500, reason="damaged box", idempotency_key="rf-keep-1",
                     actor=Actor.of(make_staff()))
    assert (row.order_id, row.amount, row.currency) == (order.id, 500, order.currency)
    assert reload(order).refunded_total == 500
    locked = seen.inside_writes()
    assert locked.matching(r"^UPDATE orders SET refunded_total")
    assert not locked.matching(ORDER_ROW), locked


def test_closing_a_shipped_order_whose_goods_came_back_restocks_and_refunds_once(app):
    from .factories import stock_of

    order = make_order(make_user(), OrderStatus.SHIPPED, quantity=2)
    sku_id = order.lines[0].sku_id
    before = stock_of(sku_id)
    with app.test_request_context("/"):
        services.close_order(order, CancelReason.REFUNDED, Actor.system(), goods_returned=True)
    assert stock_of(sku_id) == before + 2
    order = reload(order)
    assert order.status == OrderStatus.CLOSED and order.refunded_total == order.total
    assert [r.idempotency_key for r in db.session.execute(select(Refund)).scalars()] == [f"close-{order.id}"]


def test_closing_a_shipped_order_after_a_full_refund_changes_no_stock(app):
    from .factories import stock_of

    order = make_order(make_user(), OrderStatus.SHIPPED, quantity=2)
    sku_id = order.lines[0].sku_id
    before = stock_of(sku_id)
    services.close_order(order, CancelReason.REFUNDED, Actor.system())
    assert stock_of(sku_id) == before
    assert db.session.execute(select(Refund)).first() is None


def test_closing_an_unpaid_order_refunds_nothing(app):
    order = make_order(make_user(), OrderStatus.PENDING_PAYMENT)
    services.close_order(order, CancelReason.PAYMENT_TIMEOUT, Actor.system())
    assert db.session.execute(select(Refund)).first() is None


class QueryCounter:
    """Counts statements about orders (user/settings loads depend on what `g` cached)."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _hit(self, conn, cursor, statement, *args):
        if "order" in statement.lower():
            self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)


def _queries_for(client, url) -> int:
    with QueryCounter(db.engine) as counter:
        assert client.get(url).status_code == 200
    return counter.count


def test_list_pages_do_not_query_per_order(client, app):
    buyer, staff = make_user(), make_staff()
    make_order(buyer, OrderStatus.PAID)
    session_login(client, staff)
    admin_one = _queries_for(client, "/admin/orders")
    session_login(client, buyer)
    buyer_one = _queries_for(client, "/orders/")
    # orders, then all lines (and notes) in one go each; a switched-off store
    # pickup asks once whether open pickups still need its staff menu entry
    assert buyer_one == 2 and admin_one <= 4
    for _ in range(8):
        make_order(buyer, OrderStatus.PAID)
    assert _queries_for(client, "/orders/") == buyer_one
    session_login(client, staff)
    assert _queries_for(client, "/admin/orders") == admin_one

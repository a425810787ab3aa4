"""Deadline sweeps: unpaid close, auto-confirm, and two workers at once.

No request context here on purpose: sweeps run from the worker and cron.
"""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import OrderStatus
from storefront.orders.sweeps import run_all_sweeps, run_core_sweeps
from storefront.plugins import hookimpl
from storefront.plugins.host import get_host

from ..factories import make_product, make_user
from ..perf.conftest import count_queries
from .factories import make_order, stock_of


def status_events(order_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(OrderEvent)
                             .where(OrderEvent.order_id == order_id, OrderEvent.kind == "status"))


def test_unpaid_orders_close_and_release_stock_once(app):
    buyer = make_user()
    sku = make_product(stock=10).skus[0]
    past = utcnow() - timedelta(minutes=1)
    expired = make_order(buyer, OrderStatus.PENDING_PAYMENT, items=[(sku, 2)], pay_deadline=past)
    fresh = make_order(buyer, OrderStatus.PENDING_PAYMENT, items=[(sku, 3)])
    paid = make_order(buyer, OrderStatus.PAID, items=[(sku, 1)], pay_deadline=past)
    assert stock_of(sku.id) == 4
    counts = run_core_sweeps(utcnow())
    assert counts["orders_closed_unpaid"] == 1
    assert stock_of(sku.id) == 6
    assert run_core_sweeps(utcnow())["orders_closed_unpaid"] == 0
    assert stock_of(sku.id) == 6
    db.session.expire_all()
    assert db.session.get(Order, expired.id).status == OrderStatus.CLOSED
    assert db.session.get(Order, expired.id).close_reason == "payment_timeout"
    assert db.session.get(Order, fresh.id).status == OrderStatus.PENDING_PAYMENT
    assert db.session.get(Order, paid.id).status == OrderStatus.PAID
    assert status_events(expired.id) == 1


def test_auto_confirm_shipped(app):
    buyer = make_user()
    due = make_order(buyer, OrderStatus.SHIPPED, auto_confirm_at=utcnow() - timedelta(seconds=5))
    later = make_order(buyer, OrderStatus.SHIPPED)
    with count_queries() as seen:
        counts = run_all_sweeps(utcnow())
    assert counts["orders_auto_confirmed"] == 1
    # The claim reads the due order inside its write transaction; completing it reads it no more.
    assert len(seen.inside_writes().matching(rf"^SELECT orders\.id, orders\.number.*WHERE orders\.id = ")) == 1
    db.session.expire_all()
    assert db.session.get(Order, due.id).status == OrderStatus.COMPLETED
    assert db.session.get(Order, later.id).status == OrderStatus.SHIPPED
    assert run_all_sweeps(utcnow())["orders_auto_confirmed"] == 0


class _OpenRefundCase:
    def __init__(self, order_id):
        self.order_id = order_id

    @hookimpl
    def transition_guard(self, obj, to, actor):
        if getattr(obj, "id", None) == self.order_id and to == OrderStatus.COMPLETED:
            return "open refund case"
        return None


def test_auto_confirm_skips_vetoed_orders(app):
    buyer = make_user()
    past = utcnow() - timedelta(seconds=5)
    blocked = make_order(buyer, OrderStatus.SHIPPED, auto_confirm_at=past)
    free = make_order(buyer, OrderStatus.SHIPPED, auto_confirm_at=past)
    plugin = _OpenRefundCase(blocked.id)
    get_host().pm.register(plugin, name="test-open-refund")
    try:
        assert run_core_sweeps(utcnow())["orders_auto_confirmed"] == 1
        assert run_core_sweeps(utcnow())["orders_auto_confirmed"] == 0
    finally:
        get_host().pm.unregister(plugin)
    db.session.expire_all()
    assert db.session.get(Order, blocked.id).status == OrderStatus.SHIPPED
    assert db.session.get(Order, free.id).status == OrderStatus.COMPLETED
    assert status_events(blocked.id) == 0


def test_two_workers_close_each_order_exactly_once(app):
    buyer = make_user()
    skus = [make_product(stock=100).skus[0] for _ in range(3)]
    past = utcnow() - timedelta(minutes=5)
    ids = [make_order(buyer, OrderStatus.PENDING_PAYMENT, items=[(skus[i % 3], 2)], pay_deadline=past).id
           for i in range(30)]
    sku_ids = [s.id for s in skus]
    assert [stock_of(i) for i in sku_ids] == [80, 80, 80]
    db.session.remove()

    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=120)
                results.append(run_core_sweeps(utcnow())["orders_closed_unpaid"])
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(results) == 30
    assert [stock_of(i) for i in sku_ids] == [100, 100, 100]
    for order_id in ids:
        assert db.session.get(Order, order_id).status == OrderStatus.CLOSED
        assert status_events(order_id) == 1


def _late_events(order_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(OrderEvent)
                             .where(OrderEvent.order_id == order_id, OrderEvent.kind == "ship_overdue"))


def test_late_shipment_is_flagged_once_and_fires_the_order_event(app):
    buyer = make_user()
    late = make_order(buyer, OrderStatus.PAID, ship_by=utcnow() - timedelta(minutes=5))
    on_time = make_order(buyer, OrderStatus.PAID, ship_by=utcnow() + timedelta(hours=5))
    seen = []

    class Listener:
        @hookimpl
        def order_event(self, order, event):
            if event.kind == "ship_overdue":
                seen.append(order.id)

    pm = get_host(app).pm
    pm.register(Listener(), name="late-listener")
    try:
        assert run_core_sweeps(utcnow())["orders_flagged_late"] == 1
        assert run_core_sweeps(utcnow())["orders_flagged_late"] == 0
    finally:
        pm.unregister(name="late-listener")
    assert seen == [late.id]
    assert _late_events(late.id) == 1 and _late_events(on_time.id) == 0
    db.session.expire_all()
    assert db.session.get(Order, late.id).ship_overdue_at is not None
    assert db.session.get(Order, late.id).status == OrderStatus.PAID


def test_two_sweepers_flag_each_late_order_once(app):
    buyer = make_user()
    orders = [make_order(buyer, OrderStatus.PAID, ship_by=utcnow() - timedelta(minutes=1)) for _ in range(20)]
    barrier = threading.Barrier(2)
    errors = []

    def sweep():
        try:
            with app.app_context():
                barrier.wait(timeout=120)
                run_core_sweeps(utcnow())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [_late_events(o.id) for o in orders] == [1] * 20

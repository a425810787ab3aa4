"""A refund owed by a committed close or late payment starts even if the process died before it.

The close and the late payment commit first and call the provider after the
commit; here the after-commit step is dropped, as if the worker was killed
between the two, and the core sweep must start the refund -- exactly once,
not before the grace period, and never for money the shop keeps.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders import services
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.sweeps import run_core_sweeps
from storefront.orders.transitions import Actor
from storefront.payments import owed
from storefront.payments.models import Refund

from ..factories import make_user
from .factories import make_order, reload


@pytest.fixture
def dying_worker(monkeypatch):
    """Closes commit, but nothing registered to run after the commit ever runs."""
    monkeypatch.setattr(services, "after_commit", lambda callback: None)


def _refund_keys():
    db.session.expire_all()
    return [r.idempotency_key for r in db.session.scalars(select(Refund).order_by(Refund.id))]


def test_a_close_whose_refund_never_started_is_refunded_by_the_sweep_once(app, dying_worker):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)
    with app.test_request_context("/"):
        services.cancel_by_buyer(order, buyer)
    order = reload(order)
    assert order.status == OrderStatus.CLOSED and order.refunded_total == 0  # the money is stuck
    assert _refund_keys() == []

    assert run_core_sweeps(utcnow())["refunds_started"] == 0  # the closing request may still be at it
    later = utcnow() + owed.GRACE + timedelta(seconds=1)
    assert run_core_sweeps(later)["refunds_started"] == 1
    order = reload(order)
    assert order.refunded_total == order.paid_total == order.total
    assert _refund_keys() == [f"close-{order.id}"]
    assert run_core_sweeps(later)["refunds_started"] == 0


def test_the_sweep_leaves_refunded_unpaid_and_old_closes_alone(app, dying_worker, monkeypatch):
    buyer = make_user()
    unpaid = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    services.close_order(unpaid, CancelReason.PAYMENT_TIMEOUT, Actor.system())
    stuck = make_order(buyer, OrderStatus.PAID)
    services.close_order(stuck, CancelReason.OUT_OF_STOCK, Actor.system())
    assert run_core_sweeps(utcnow() + owed.LOOKBACK + timedelta(hours=1))["refunds_started"] == 0  # too old
    monkeypatch.undo()  # a healthy worker: the close refunds at once
    healthy = make_order(buyer, OrderStatus.PAID)
    with app.test_request_context("/"):
        services.close_order(healthy, CancelReason.OUT_OF_STOCK, Actor.system())
    assert reload(healthy).refunded_total == reload(healthy).total

    assert run_core_sweeps(utcnow() + owed.GRACE + timedelta(seconds=1))["refunds_started"] == 1  # `stuck` only
    assert sorted(_refund_keys()) == sorted([f"close-{stuck.id}", f"close-{healthy.id}"])
    assert reload(unpaid).refunded_total == 0


def test_a_refund_the_provider_refused_is_left_to_staff(app, monkeypatch):
    from storefront.payments import refunds

    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)

    class Refusing:
        name = "test"

        def refund(self, *args, **kwargs):
            raise refunds.RefundFailed("provider down")

    monkeypatch.setattr(refunds, "get_provider", lambda name: Refusing())
    with app.test_request_context("/"):
        services.close_order(order, CancelReason.OUT_OF_STOCK, Actor.system())
    monkeypatch.undo()
    assert reload(order).refunded_total == 0 and _refund_keys() == [f"close-{order.id}"]
    # A failed call may have half-reached the provider: a person decides, the sweep does not retry.
    assert run_core_sweeps(utcnow() + owed.GRACE + timedelta(seconds=1))["refunds_started"] == 0

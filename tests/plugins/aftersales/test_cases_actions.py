"""Staff decisions: every path changes money, stock and both timelines exactly once."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from plugins.aftersales import actions, cases
from storefront.errors import Conflict, ConcurrentUpdate, Forbidden, TransitionVetoed, ValidationFailed
from storefront.extensions import db
from storefront.notify.models import InboxMessage
from storefront.orders import services as order_services
from storefront.orders.status import OrderStatus

from .conftest import (case_events, fresh_case, make_product, open_case, order_event_kinds, paid_order, png_bytes,
                       refunds_of, reload, set_enabled, shipped_order, stock_of)

RETURN_ADDRESS = "Returns desk, 88 Keji Road, Shenzhen"


@pytest.fixture(autouse=True)
def _manual(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False,
                return_address=RETURN_ADDRESS)


def _inbox_kinds(user_id):
    db.session.rollback()
    return list(db.session.execute(select(InboxMessage.kind).where(InboxMessage.user_id == user_id)
                                   .order_by(InboxMessage.id)).scalars())


def test_unshipped_refund_closes_the_order_restocks_and_refunds(app, buyer, staff):
    product = make_product(price=5000, stock=10)
    sku_id = product.skus[0].id
    order = paid_order(buyer, items=[(product.skus[0], 2)])
    assert stock_of(sku_id) == 8
    case = open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    assert case.amount_requested == order.total
    actions.approve(case, staff)
    case = fresh_case(case)
    assert case.status == "refunded" and case.amount_refunded == order.total and case.completed_at
    fresh = reload(order)
    assert fresh.status == OrderStatus.CLOSED and fresh.close_reason == "buyer_cancelled"
    assert not fresh.closed_by_seller
    assert fresh.refunded_total == fresh.total
    assert stock_of(sku_id) == 10
    assert [r.amount for r in refunds_of(order.id)] == [fresh.total]
    assert [k for k, _a in case_events(case)] == ["requested", "approved", "refunded"]
    kinds = order_event_kinds(order.id)
    assert "aftersales_approved" in kinds and "aftersales_refunded" in kinds
    assert "aftersales_refunded" in _inbox_kinds(buyer.id)


def test_open_unshipped_request_holds_the_parcel(app, buyer, staff):
    order = paid_order(buyer)
    open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    with pytest.raises(TransitionVetoed):
        order_services.ship_order(order, staff, "SF Express", "SF12345678")


def test_refund_only_shipped_partial(app, buyer, staff):
    order = shipped_order(buyer, quantity=2)
    case = open_case(order, buyer, lines={order.lines[0].id: 2}, amount=3000)
    actions.approve(case, staff)
    assert fresh_case(case).status == "approved"
    with pytest.raises(ValidationFailed):
        actions.refund(fresh_case(case), staff, 3001)
    actions.refund(fresh_case(case), staff, 2000)
    case = fresh_case(case)
    assert case.status == "refunded" and case.amount_refunded == 2000
    assert [r.amount for r in refunds_of(order.id)] == [2000]
    assert reload(order).status == OrderStatus.SHIPPED  # not everything was refunded
    with pytest.raises(ConcurrentUpdate):  # a second click
        actions.refund(case, staff, 2000)
    assert len(refunds_of(order.id)) == 1


def test_full_return_flow_restocks_refunds_and_closes_the_order(app, buyer, staff):
    product = make_product(price=5000, stock=5)
    sku_id = product.skus[0].id
    order = shipped_order(buyer, items=[(product.skus[0], 1)])
    case = open_case(order, buyer, kind="return_refund", reason="changed_mind", lines={order.lines[0].id: 1})
    assert case.amount_requested == 5000 + 1000  # whole order: shipping too
    actions.approve(case, staff)
    case = fresh_case(case)
    assert case.status == "awaiting_return" and case.return_address == RETURN_ADDRESS and case.return_deadline
    with pytest.raises(ValidationFailed):
        cases.enter_return_tracking(case, buyer, "Nope Express", "SF12345678")
    cases.enter_return_tracking(case, buyer, "SF Express", "SF99990000")
    case = fresh_case(case)
    assert case.status == "returning" and case.buyer_shipped_at and case.return_tracking == "SF99990000"
    with pytest.raises(Conflict):
        actions.refund(case, staff)  # nothing to refund before the goods are back
    with pytest.raises(ValidationFailed):
        actions.receive(case, staff, "maybe")
    actions.receive(case, staff, "restock")
    assert stock_of(sku_id) == 5
    with pytest.raises(ConcurrentUpdate):
        actions.receive(fresh_case(case), staff, "restock")
    assert stock_of(sku_id) == 5  # restocked once
    actions.refund(fresh_case(case), staff)
    case = fresh_case(case)
    assert case.status == "refunded" and case.amount_refunded == 6000
    fresh = reload(order)
    assert fresh.status == OrderStatus.CLOSED and fresh.close_reason == "refunded"
    assert fresh.refunded_total == fresh.total
    assert stock_of(sku_id) == 5  # closing did not restock a second time
    assert [k for k, _a in case_events(case)] == ["requested", "approved", "return_posted", "arrived", "inspected", "refunded"]
    assert [a for _k, a in case_events(case)] == ["buyer", "staff", "buyer", "staff", "staff", "staff"]


def test_no_restock_keeps_stock(app, buyer, staff):
    product = make_product(price=5000, stock=5)
    order = shipped_order(buyer, items=[(product.skus[0], 1)])
    case = open_case(order, buyer, kind="return_refund", reason="damaged", lines={order.lines[0].id: 1},
                     files=[png_bytes()])
    actions.approve(case, staff)
    actions.receive(fresh_case(case), staff, "no_restock")
    assert stock_of(product.skus[0].id) == 4


def test_reject_needs_a_reason_and_notifies(app, buyer, staff):
    case = open_case(shipped_order(buyer), buyer)
    with pytest.raises(ValidationFailed):
        actions.reject(case, staff, "  ")
    actions.reject(case, staff, "The parcel was signed for")
    case = fresh_case(case)
    assert case.status == "rejected" and case.first_response_at is not None
    assert "aftersales_rejected" in _inbox_kinds(buyer.id)


def test_exchange_reship(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer, kind="exchange", reason="changed_mind", lines={order.lines[0].id: 1})
    assert case.amount_requested == 0
    with pytest.raises(ValidationFailed):
        actions.reship(case, staff, "SF Express", "x")
    actions.reship(case, staff, "SF Express", "SF55556666")
    case = fresh_case(case)
    assert case.status == "reshipped" and case.completed_at
    assert refunds_of(order.id) == []


def test_buyers_cannot_decide(app, buyer, staff):
    case = open_case(shipped_order(buyer), buyer)
    for act in (lambda: actions.approve(case, buyer), lambda: actions.reject(case, buyer, "x"),
                lambda: actions.refund(case, buyer), lambda: actions.receive(case, buyer, "restock"),
                lambda: actions.add_note(case, buyer, "x"), lambda: actions.assign(case, buyer, None)):
        with pytest.raises(Forbidden):
            act()


def test_assign_note_extend(app, buyer, staff):
    from .conftest import make_staff

    other_staff = make_staff()
    order = shipped_order(buyer)
    case = open_case(order, buyer)
    with pytest.raises(ValidationFailed):
        actions.assign(case, staff, buyer.id)
    with pytest.raises(ValidationFailed):
        actions.assign(case, staff, other_staff.id, "bogus")
    actions.assign(case, staff, other_staff.id, "complaint")
    case = fresh_case(case)
    assert case.assignee_id == other_staff.id and case.category == "complaint"
    actions.add_note(case, staff, "Called the carrier")
    before = reload(order).auto_confirm_at
    actions.extend_auto_confirm(fresh_case(case), staff)
    assert (reload(order).auto_confirm_at - before).days == 10
    kinds = [k for k, _a in case_events(case)]
    assert {"assigned", "note", "auto_confirm_extended"} <= set(kinds)
    # Internal entries stay off the buyer's order timeline.
    assert "aftersales_note" not in order_event_kinds(order.id)


def test_auto_confirm_waits_for_open_cases(app, buyer, staff):
    from datetime import timedelta

    from storefront.clock import utcnow
    from storefront.orders.sweeps import auto_confirm_shipped

    order = shipped_order(buyer, auto_confirm_at=utcnow() - timedelta(minutes=1))
    case = open_case(order, buyer)
    assert auto_confirm_shipped(utcnow()) == 0  # vetoed, and the sweep ends
    assert reload(order).status == OrderStatus.SHIPPED
    with pytest.raises(TransitionVetoed):
        order_services.confirm_receipt(reload(order), buyer)
    actions.reject(fresh_case(case), staff, "no")
    assert auto_confirm_shipped(utcnow()) == 1
    assert reload(order).status == OrderStatus.COMPLETED


def test_refund_failure_puts_the_case_back(app, buyer, staff, monkeypatch):
    from storefront.payments.providers import TestProvider

    def boom(self, payment, amount, key):
        raise RuntimeError("provider down")

    monkeypatch.setattr(TestProvider, "refund", boom)
    order = shipped_order(buyer)
    case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=1000)
    with pytest.raises(Exception):
        actions.refund(case, staff)
    case = fresh_case(case)
    assert case.status == "requested" and case.amount_refunded == 0
    assert "refund_failed" in [k for k, _a in case_events(case)]
    assert reload(order).refunded_total == 0


def test_order_closed_elsewhere_closes_its_open_request(app, buyer, staff):
    order = paid_order(buyer)
    case = open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    order_services.cancel_by_seller(reload(order), staff, "out_of_stock")
    case = fresh_case(case)
    assert case.status == "closed" and case_events(case)[-1] == ("closed_with_order", "system")
    assert reload(order).refunded_total == reload(order).total  # refunded once, by the core
    assert len(refunds_of(order.id)) == 1

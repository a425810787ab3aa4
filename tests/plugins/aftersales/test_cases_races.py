"""Races with real threads: double clicks, two staff members, a buyer and staff at once.

Threads never touch the test's ORM objects: ids and numbers are captured first.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from plugins.aftersales.models import Case
from storefront.extensions import db
from storefront.orders.status import OrderStatus

from .conftest import (bearer, fresh_case, make_product, make_staff, new_client, open_case, paid_order, refunds_of,
                       reload, set_enabled, shipped_order, sign_in, stock_of)


def _run(n, work):
    barrier = threading.Barrier(n, timeout=120)
    results = [None] * n

    def go(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported in the assertion
            results[i] = repr(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.rollback()
    return results


def _staff_clients(app, n):
    clients = []
    for _ in range(n):
        c = new_client(app)
        sign_in(c, make_staff())
        clients.append(c)
    return clients


@pytest.fixture(autouse=True)
def _manual(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False)


def test_double_clicked_refund_pays_once(app, buyer):
    order = shipped_order(buyer, quantity=2)
    number = open_case(order, buyer, lines={order.lines[0].id: 2}, amount=4000).number
    order_id = order.id
    clients = _staff_clients(app, 6)
    statuses = _run(6, lambda i: clients[i].post(f"/admin/aftersales/{number}/refund",
                                                 data={"refund-amount": ""}).status_code)
    assert statuses.count(303) == 1, statuses
    assert all(s in (303, 400) for s in statuses), statuses
    assert [r.amount for r in refunds_of(order_id)] == [4000]
    assert reload(order_id).refunded_total == 4000


def test_concurrent_approvals_of_an_unshipped_refund_close_once(app, buyer):
    product = make_product(price=5000, stock=4)
    sku_id = product.skus[0].id
    order = paid_order(buyer, items=[(product.skus[0], 2)])
    number = open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None).number
    order_id, total = order.id, order.total
    clients = _staff_clients(app, 6)
    statuses = _run(6, lambda i: clients[i].post(f"/admin/aftersales/{number}/approve", data={}).status_code)
    assert statuses.count(303) == 1, statuses
    fresh = reload(order_id)
    assert fresh.status == OrderStatus.CLOSED and fresh.refunded_total == total
    assert sum(r.amount for r in refunds_of(order_id)) == total
    assert stock_of(sku_id) == 4


def test_refund_racing_another_refund_never_exceeds_what_was_paid(app, buyer, staff):
    """The case asks for everything while staff also refund part of the order by hand."""
    from plugins.aftersales import actions
    from storefront.orders.models import Order
    from storefront.orders.transitions import Actor
    from storefront.payments.services import refund
    from tests.conftest import pushed_app

    order = shipped_order(buyer)
    case_id = open_case(order, buyer).id
    order_id, total, line_id, staff_id = order.id, order.total, order.lines[0].id, staff.id

    def work(i):
        with pushed_app(app):
            from storefront.accounts.models import User

            if i % 2 == 0:
                actions.refund(db.session.get(Case, case_id), db.session.get(User, staff_id))
            else:
                refund(db.session.get(Order, order_id), 4000, "goodwill", f"manual-{i}", Actor.system(),
                       lines={line_id: 4000})
            return "ok"

    results = _run(4, work)
    fresh = reload(order_id)
    paid_back = sum(r.amount for r in refunds_of(order_id) if r.status == "succeeded")
    assert paid_back == fresh.refunded_total <= total, results
    assert results.count("ok") >= 1
    case = fresh_case(case_id)
    if case.status == "refunded":
        assert case.amount_refunded == total
    else:  # the manual refund came first: the case's refund was refused and it went back
        assert case.status == "requested" and case.amount_refunded == 0


def test_two_tabs_open_one_request(app, buyer):
    order = shipped_order(buyer)
    number, line_id = order.number, order.lines[0].id
    headers = bearer(buyer)
    clients = [new_client(app) for _ in range(5)]
    data = {"order_number": number, "kind": "refund_shipped", "reason": "price_difference",
            "lines": f'{{"{line_id}": 1}}'}
    statuses = _run(5, lambda i: clients[i].post("/api/v1/aftersales/cases", data=data, headers=headers,
                                                 content_type="multipart/form-data").status_code)
    assert statuses.count(201) == 1, statuses
    assert all(s in (201, 409) for s in statuses), statuses
    assert db.session.execute(select(func.count(Case.id)).where(Case.order_id == order.id)).scalar() == 1


def test_buyer_cancel_racing_staff_refund(app, buyer):
    order = shipped_order(buyer)
    case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=1500)
    number, order_id = case.number, order.id
    buyer_client = new_client(app)
    sign_in(buyer_client, buyer)
    staff_client = _staff_clients(app, 1)[0]

    def work(i):
        if i == 0:
            return buyer_client.post(f"/account/refunds/{number}/cancel", data={}).status_code
        return staff_client.post(f"/admin/aftersales/{number}/refund", data={}).status_code

    _run(2, work)
    case = fresh_case(case)
    refunded = sum(r.amount for r in refunds_of(order_id))
    assert case.status in ("cancelled", "refunded")
    assert refunded == (1500 if case.status == "refunded" else 0)

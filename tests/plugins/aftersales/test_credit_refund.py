"""Refunds paid as store credit: capped like money, credited once, shown to the buyer, audited."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from plugins.aftersales import actions, credit
from plugins.aftersales.money_models import CreditEntry
from storefront.audit.models import AuditEntry
from storefront.errors import Conflict, ConcurrentUpdate, Forbidden, ValidationFailed
from storefront.extensions import db
from storefront.notify.models import InboxMessage
from storefront.orders.status import OrderStatus
from storefront.payments import services as payments

from .conftest import (bearer, fresh_case, make_product, new_client, open_case, order_event_kinds, paid_order,
                       refunds_of, reload, set_enabled, shipped_order, sign_in, stock_of)
from .test_cases_races import _run, _staff_clients


@pytest.fixture(autouse=True)
def _manual(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False)


def _entries(user_id):
    db.session.rollback()
    return list(db.session.execute(select(CreditEntry).where(CreditEntry.user_id == user_id)
                                   .order_by(CreditEntry.id)).scalars())


def test_refund_as_store_credit(app, buyer, staff):
    order = shipped_order(buyer, quantity=2)
    case = open_case(order, buyer, lines={order.lines[0].id: 2}, amount=3000)
    actions.refund(case, staff, 2500, method="credit")
    case = fresh_case(case)
    assert case.status == "refunded" and case.amount_refunded == 2500 and case.refund_method == "credit"
    assert refunds_of(order.id) == []  # the payment provider was not called
    [entry] = _entries(buyer.id)
    assert (entry.kind, entry.amount, entry.case_id, entry.order_id) == ("refund", 2500, case.id, order.id)
    assert credit.balance(buyer.id) == 2500
    fresh = reload(order)
    assert fresh.refunded_total == 2500 and fresh.lines[0].refunded_amount == 2500  # counts towards refunded
    assert fresh.status == OrderStatus.SHIPPED
    assert "aftersales_refunded" in order_event_kinds(order.id)
    db.session.rollback()
    inbox = db.session.execute(select(InboxMessage).where(InboxMessage.user_id == buyer.id,
                                                          InboxMessage.kind == "aftersales_refunded")).scalars().all()
    assert len(inbox) == 1 and "store credit" in inbox[0].body
    audit = db.session.execute(select(AuditEntry).where(AuditEntry.action == "aftersales.refunded")).scalars().all()
    assert len(audit) == 1 and audit[0].after["method"] == "credit" and audit[0].after["amount"] == 2500


def test_buyer_sees_it_on_case_order_and_ledger(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=1500)
    actions.refund(case, staff, method="credit")
    c = new_client(app)
    sign_in(c, buyer)
    page = c.get(f"/account/refunds/{case.number}").get_data(as_text=True)
    assert "paid as store credit" in page and "15.00" in page
    page = c.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Refunded as store credit" in page and "as store credit" in page
    ledger = c.get("/account/store-credit/").get_data(as_text=True)
    assert "Refund as store credit" in ledger and case.number in ledger
    body = new_client(app).get("/api/v1/aftersales/money/credit", headers=bearer(buyer)).get_json()
    assert body["balance"] == 1500 or body["balance"].get("amount") == 1500


def test_store_credit_counts_towards_the_cap(app, buyer, staff):
    order = shipped_order(buyer)  # 5000 line + 1000 shipping
    first = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=5000)
    actions.refund(first, staff, method="credit")
    with pytest.raises(Conflict) as err:  # the line is used up: no money on top of the credit
        payments.refund(reload(order), 1, "again", "test-again-1", actions.Actor.system("t"),
                        lines={order.lines[0].id: 1})
    assert err.value.code == "refund_exceeds_line"
    # A money refund first, then a credit refund that would pass what was paid: refused, nothing written.
    other = shipped_order(buyer)
    payments.refund(other, 5500, "partial", "test-partial-1", actions.Actor.system("t"))
    case = open_case(reload(other), buyer, lines={other.lines[0].id: 1})
    assert case.amount_requested == 500  # what is left
    db.session.execute(db.text("UPDATE orders SET refunded_total = paid_total WHERE id = :id"), {"id": other.id})
    db.session.commit()  # someone else refunded the rest meanwhile
    with pytest.raises(Conflict) as err:
        actions.refund(fresh_case(case), staff, method="credit")
    assert err.value.code == "refund_exceeds_total"
    case = fresh_case(case)
    assert case.status == "requested" and case.refund_method is None
    assert [e.amount for e in _entries(buyer.id)] == [5000]


def test_full_credit_refund_closes_the_shipped_order(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer, lines={order.lines[0].id: 1})  # the whole order: 6000
    actions.refund(case, staff, method="credit")
    fresh = reload(order)
    assert fresh.status == OrderStatus.CLOSED and fresh.refunded_total == fresh.total
    assert refunds_of(order.id) == [] and credit.balance(buyer.id) == 6000


def test_unshipped_refund_as_store_credit(app, buyer, staff):
    product = make_product(price=5000, stock=10)
    order = paid_order(buyer, items=[(product.skus[0], 2)])
    case = open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    actions.approve(case, staff, method="credit")
    fresh = reload(order)
    assert fresh.status == OrderStatus.CLOSED and fresh.refunded_total == fresh.total
    assert refunds_of(order.id) == []  # the close found nothing left to send back
    assert stock_of(product.skus[0].id) == 10
    assert credit.balance(buyer.id) == fresh.total
    assert fresh_case(case).refund_method == "credit"


def test_bad_input_and_permissions(app, buyer, other_buyer, staff, owner):
    order = shipped_order(buyer)
    case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=1000)
    with pytest.raises(ValidationFailed) as err:
        actions.refund(case, staff, method="bitcoin")
    assert err.value.field == "method"
    for user in (buyer, other_buyer):
        with pytest.raises(Forbidden):
            actions.refund(case, user, method="credit")
    actions.reject(case, staff, "no")
    second = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=1000)  # escalated
    with pytest.raises(Forbidden):
        actions.refund(second, staff, method="credit")
    actions.refund(second, owner, method="credit")
    assert fresh_case(second).escalation_decision == "buyer"
    assert [e.amount for e in _entries(buyer.id)] == [1000]


def test_double_click_credits_once(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=2000)
    actions.refund(case, staff, method="credit")
    with pytest.raises(ConcurrentUpdate):
        actions.refund(case, staff, method="credit")
    assert [e.amount for e in _entries(buyer.id)] == [2000]


def test_concurrent_staff_credit_once(app, buyer):
    order = shipped_order(buyer, quantity=2)
    number = open_case(order, buyer, lines={order.lines[0].id: 2}, amount=4000).number
    order_id, buyer_id = order.id, buyer.id
    clients = _staff_clients(app, 6)
    statuses = _run(6, lambda i: clients[i].post(f"/admin/aftersales/{number}/refund",
                                                 data={"refund-amount": "", "refund-method": "credit"}).status_code)
    assert statuses.count(303) == 1, statuses
    assert [e.amount for e in _entries(buyer_id)] == [4000]
    assert reload(order_id).refunded_total == 4000 and credit.balance(buyer_id) == 4000


def test_admin_form_and_api(app, buyer, staff):
    order = shipped_order(buyer, quantity=3)
    case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=1000)
    s = new_client(app)
    sign_in(s, staff)
    page = s.get(f"/admin/aftersales/{case.number}").get_data(as_text=True)
    assert "As store credit" in page
    bad = s.post(f"/admin/aftersales/{case.number}/refund", data={"refund-method": "gold"})
    assert bad.status_code == 400 and "field-error" in bad.get_data(as_text=True)
    assert s.post(f"/admin/aftersales/{case.number}/refund",
                  data={"refund-amount": "", "refund-method": "credit"}).status_code == 303
    assert fresh_case(case).refund_method == "credit"
    other = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=1000)
    c, h = new_client(app), bearer(staff)
    base = f"/api/v1/admin/aftersales/cases/{other.number}"
    assert c.post(f"{base}/refund", json={"method": "gold"}, headers=h).status_code == 422
    assert c.post(f"{base}/refund", json={"method": "credit"}, headers=bearer(buyer)).status_code == 403
    r = c.post(f"{base}/refund", json={"method": "credit", "amount": 700}, headers=h)
    assert r.status_code == 200 and r.get_json()["refund_method"] == "credit"
    assert r.get_json()["amount_refunded"] == 700
    r = c.post(f"{base}/refund", json={"method": "credit"}, headers=h)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "concurrent_update"
    mine = c.get(f"/api/v1/aftersales/cases/{other.number}", headers=bearer(buyer)).get_json()
    assert mine["refund_method"] == "credit"
    assert credit.balance(buyer.id) == 1700

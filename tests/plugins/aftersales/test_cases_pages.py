"""Buyer and staff pages: success paths, errors next to fields, permissions, CSRF, switch."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from plugins.aftersales.models import Case
from storefront.clock import utcnow
from storefront.extensions import db

from .conftest import fresh_case, new_client, open_case, set_enabled, shipped_order, sign_in

ADDRESS = "Returns desk, 88 Keji Road, Shenzhen"


@pytest.fixture(autouse=True)
def _on(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False, return_address=ADDRESS)


def _as(app, user):
    c = new_client(app)
    sign_in(c, user)
    return c


def test_order_page_offers_a_request_and_the_account_menu_links(app, buyer):
    order = shipped_order(buyer)
    c = _as(app, buyer)
    html = c.get(f"/orders/{order.number}").get_data(as_text=True)
    assert f"/account/refunds/new/{order.id}" in html
    assert "/account/refunds/" in c.get("/account/refunds/").get_data(as_text=True)
    case = open_case(order, buyer)
    html = c.get(f"/orders/{order.number}").get_data(as_text=True)
    assert case.number in html and f"/account/refunds/new/{order.id}" not in html


def test_request_form_success_and_errors(app, buyer):
    order = shipped_order(buyer, quantity=2)
    c = _as(app, buyer)
    page = c.get(f"/account/refunds/new/{order.id}")
    assert page.status_code == 200 and "Request a refund" in page.get_data(as_text=True)
    line = f"qty_{order.lines[0].id}"
    bad = c.post(f"/account/refunds/new/{order.id}", data={"kind": "refund_shipped", "reason": "price_difference",
                                                           line: "1", "amount": "999.00"})
    assert bad.status_code == 400 and "field-error" in bad.get_data(as_text=True)
    bad = c.post(f"/account/refunds/new/{order.id}", data={"kind": "refund_shipped", "reason": "price_difference",
                                                           line: "1", "amount": "abc"})
    assert bad.status_code == 400
    bad = c.post(f"/account/refunds/new/{order.id}", data={"kind": "refund_shipped", "reason": "price_difference",
                                                           line: "0"})
    assert bad.status_code == 400 and "Choose at least one item" in bad.get_data(as_text=True)
    ok = c.post(f"/account/refunds/new/{order.id}", data={"kind": "refund_shipped", "reason": "price_difference",
                                                          line: "1", "amount": "12.50"})
    assert ok.status_code == 302
    case = db.session.query(Case).one()
    assert case.amount_requested == 1250
    assert case.number in c.get("/account/refunds/").get_data(as_text=True)
    assert c.get(f"/account/refunds/{case.number}").status_code == 200


def test_other_buyers_and_anonymous(app, buyer, other_buyer):
    order = shipped_order(buyer)
    case = open_case(order, buyer)
    other = _as(app, other_buyer)
    assert other.get(f"/account/refunds/new/{order.id}").status_code == 404
    assert other.get(f"/account/refunds/{case.number}").status_code == 404
    assert other.post(f"/account/refunds/{case.number}/cancel").status_code == 404
    assert other.post(f"/account/refunds/{case.number}/message", data={"body": "hi"}).status_code == 404
    assert case.number not in other.get("/account/refunds/").get_data(as_text=True)
    anon = new_client(app)
    assert anon.get(f"/account/refunds/{case.number}").status_code in (302, 401)
    assert anon.get("/account/refunds/").status_code in (302, 401)
    assert fresh_case(case).status == "requested"


def test_buyer_on_admin_pages_is_refused(app, buyer):
    case = open_case(shipped_order(buyer), buyer)
    c = _as(app, buyer)
    assert c.get("/admin/aftersales/").status_code == 403
    assert c.get(f"/admin/aftersales/{case.number}").status_code == 403
    assert c.post(f"/admin/aftersales/{case.number}/approve", data={}).status_code == 403
    assert new_client(app).get("/admin/aftersales/").status_code in (302, 401)
    assert fresh_case(case).status == "requested"


def test_case_page_thread_cancel_and_tracking(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer, kind="return_refund", reason="changed_mind", lines={order.lines[0].id: 1})
    c = _as(app, buyer)
    assert c.post(f"/account/refunds/{case.number}/message", data={"body": ""}).status_code == 400
    assert c.post(f"/account/refunds/{case.number}/message", data={"body": "Box is sealed"}).status_code == 302
    assert "Box is sealed" in c.get(f"/account/refunds/{case.number}").get_data(as_text=True)
    s = _as(app, staff)
    assert s.post(f"/admin/aftersales/{case.number}/approve",
                  data={"approve-return_address": ADDRESS}).status_code == 303
    page = c.get(f"/account/refunds/{case.number}").get_data(as_text=True)
    assert ADDRESS in page and "tracking" in page
    bad = c.post(f"/account/refunds/{case.number}/tracking", data={"carrier": "SF Express", "tracking_number": "!!"})
    assert bad.status_code == 400 and "field-error" in bad.get_data(as_text=True)
    assert c.post(f"/account/refunds/{case.number}/tracking",
                  data={"carrier": "SF Express", "tracking_number": "SF12345678"}).status_code == 302
    assert fresh_case(case).status == "returning"
    # Goods on their way: no cancelling any more.
    c.post(f"/account/refunds/{case.number}/cancel")
    assert fresh_case(case).status == "returning"


def test_staff_queue_filters_and_overdue(app, buyer, staff):
    fresh = open_case(shipped_order(buyer), buyer, reason="price_difference")
    late = open_case(shipped_order(buyer), buyer, reason="not_received")
    db.session.query(Case).filter_by(id=late.id).update({"created_at": utcnow() - timedelta(hours=2)})
    db.session.commit()
    s = _as(app, staff)
    html = s.get("/admin/aftersales/").get_data(as_text=True)
    assert fresh.number in html and late.number in html and "Overdue" in html
    html = s.get("/admin/aftersales/?overdue=1").get_data(as_text=True)
    assert late.number in html and fresh.number not in html
    html = s.get("/admin/aftersales/?reason=not_received").get_data(as_text=True)
    assert late.number in html and fresh.number not in html
    html = s.get("/admin/aftersales/?category=tracking").get_data(as_text=True)
    assert late.number in html and fresh.number not in html
    html = s.get(f"/admin/aftersales/?assignee={staff.id}").get_data(as_text=True)
    assert late.number not in html
    assert s.get("/admin/aftersales/?kind=bogus").status_code == 200  # flashed, not a crash
    assert s.get(f"/admin/aftersales/{late.number}").status_code == 200


def test_staff_actions_show_errors_next_to_fields(app, buyer, staff):
    case = open_case(shipped_order(buyer), buyer)
    s = _as(app, staff)
    bad = s.post(f"/admin/aftersales/{case.number}/reject", data={"reject-reason": ""})
    assert bad.status_code == 400 and "field-error" in bad.get_data(as_text=True)
    bad = s.post(f"/admin/aftersales/{case.number}/refund", data={"refund-amount": "99999"})
    assert bad.status_code == 400 and "field-error" in bad.get_data(as_text=True)
    assert s.post(f"/admin/aftersales/{case.number}/note", data={"note-body": "Called"}).status_code == 303
    assert s.post(f"/admin/aftersales/{case.number}/assign",
                  data={"assign-assignee_id": str(staff.id), "assign-category": "complaint"}).status_code == 303
    assert s.post(f"/admin/aftersales/{case.number}/message", data={"message-body": "Hello"}).status_code == 303
    assert s.post(f"/admin/aftersales/{case.number}/refund", data={"refund-amount": "10.00"}).status_code == 303
    case = fresh_case(case)
    assert case.status == "refunded" and case.amount_refunded == 1000 and case.assignee_id == staff.id


def test_escalated_case_page_for_staff_and_owner(app, buyer, staff, owner):
    order = shipped_order(buyer)
    from plugins.aftersales import actions

    actions.reject(open_case(order, buyer), staff, "no")
    second = open_case(order, buyer)
    s = _as(app, staff)
    assert "Only the shop owner" in s.get(f"/admin/aftersales/{second.number}").get_data(as_text=True)
    assert s.post(f"/admin/aftersales/{second.number}/approve", data={}).status_code == 403
    o = _as(app, owner)
    assert o.post(f"/admin/aftersales/{second.number}/approve", data={}).status_code == 303


def test_forms_need_csrf(app, secure_client, buyer):
    case = open_case(shipped_order(buyer), buyer)
    sign_in(secure_client, buyer)
    assert secure_client.post(f"/account/refunds/{case.number}/cancel").status_code == 400
    assert fresh_case(case).status == "requested"
    page = secure_client.get(f"/account/refunds/{case.number}").get_data(as_text=True)
    assert 'name="csrf_token"' in page


def test_staff_forms_need_csrf(app, _as_secure_app, buyer, staff):
    case = open_case(shipped_order(buyer), buyer)
    c = new_client(_as_secure_app)
    sign_in(c, staff)
    assert c.post(f"/admin/aftersales/{case.number}/reject", data={"reject-reason": "no"}).status_code == 400
    assert fresh_case(case).status == "requested"


def test_disabled_plugin_pages_404_and_slot_empty(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer)
    set_enabled(False)
    c = _as(app, buyer)
    assert c.get("/account/refunds/").status_code == 404
    assert c.get(f"/account/refunds/{case.number}").status_code == 404
    html = c.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "aftersales-order" not in html  # the panel is gone
    assert "After-sales request opened" in html  # old timeline entries keep their wording
    assert _as(app, staff).get("/admin/aftersales/").status_code == 404


def test_admin_order_page_and_dashboard(app, buyer, staff):
    order = shipped_order(buyer)
    case = open_case(order, buyer)
    s = _as(app, staff)
    assert case.number in s.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    html = s.get("/admin/").get_data(as_text=True)
    assert "/admin/aftersales/" in html


def test_timeline_wording_on_the_order_page(app, buyer, staff):
    order = shipped_order(buyer)
    open_case(order, buyer)
    html = _as(app, buyer).get(f"/orders/{order.number}").get_data(as_text=True)
    assert "After-sales request opened" in html


def test_unpaid_order_offers_nothing(app, buyer):
    from storefront.orders.status import OrderStatus

    from .conftest import make_order

    order = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    c = _as(app, buyer)
    assert f"/account/refunds/new/{order.id}" not in c.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "cannot have a request" in c.get(f"/account/refunds/new/{order.id}").get_data(as_text=True)


def test_buyer_requests_list_pages_newest_first(app, buyer, other_buyer, monkeypatch):
    """The buyer's list is keyset-paginated (it used to stop at 200, older ones unreachable)."""
    from plugins.aftersales import cases as case_service

    monkeypatch.setattr(case_service, "BUYER_PAGE", 2)
    numbers = [open_case(shipped_order(buyer), buyer).number for _ in range(5)][::-1]  # newest first
    open_case(shipped_order(other_buyer), other_buyer)
    c = _as(app, buyer)
    seen, url = [], "/account/refunds/"
    while url:
        html = c.get(url).get_data(as_text=True)
        seen += [n for n in numbers if n in html]
        found = re.search(r'href="([^"]*after=\d+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == numbers
    past = c.get("/account/refunds/?after=1").get_data(as_text=True)
    assert "No older requests." in past and "You have no requests." not in past
    assert c.get("/account/refunds/?after=x").status_code == 200  # a bad cursor is the first page


def test_buyer_requests_api_pages_with_after_and_limit(app, buyer):
    from .conftest import bearer

    numbers = [open_case(shipped_order(buyer), buyer).number for _ in range(3)][::-1]
    c, headers = new_client(app), bearer(buyer)
    first = c.get("/api/v1/aftersales/cases?limit=2", headers=headers).get_json()
    assert [x["number"] for x in first] == numbers[:2]
    last_id = db.session.execute(db.select(Case.id).where(Case.number == numbers[1])).scalar()
    rest = c.get(f"/api/v1/aftersales/cases?limit=2&after={last_id}", headers=headers).get_json()
    assert [x["number"] for x in rest] == numbers[2:]
    assert [x["number"] for x in c.get("/api/v1/aftersales/cases", headers=headers).get_json()] == numbers
    for bad in ("limit=0", "limit=201", "after=0", "after=x"):
        r = c.get(f"/api/v1/aftersales/cases?{bad}", headers=headers)
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "validation_failed", bad

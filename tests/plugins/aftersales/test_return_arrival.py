"""Returns: the parcel's arrival and its inspection are two steps (DOMAIN.md §7's five segments)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from plugins.aftersales import actions, cases, metrics
from storefront.errors import Conflict, ConcurrentUpdate, Forbidden, ValidationFailed

from .conftest import (bearer, case_events, fresh_case, make_product, new_client, open_case, order_event_kinds,
                       set_enabled, shipped_order, sign_in, stock_of)

ADDRESS = "Returns desk, 88 Keji Road, Shenzhen"


@pytest.fixture(autouse=True)
def _manual(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False, return_address=ADDRESS)


def _posted_return(buyer, staff, stock=5):
    product = make_product(price=5000, stock=stock)
    order = shipped_order(buyer, items=[(product.skus[0], 1)])
    case = open_case(order, buyer, kind="return_refund", reason="changed_mind", lines={order.lines[0].id: 1})
    actions.approve(case, staff)
    cases.enter_return_tracking(fresh_case(case), buyer, "SF Express", "SF12340000")
    return order, fresh_case(case), product.skus[0].id


def test_arrival_then_inspection_then_refund(app, buyer, staff):
    order, case, sku_id = _posted_return(buyer, staff)
    actions.arrive(case, staff, "Box intact")
    case = fresh_case(case)
    assert case.status == "arrived" and case.arrived_at and case.inspected_at is None
    assert stock_of(sku_id) == 4  # nothing back on sale before the inspection
    with pytest.raises(ConcurrentUpdate):  # no refund before the inspection
        actions.refund(case, staff)
    actions.inspect(case, staff, "restock", "Unworn")
    case = fresh_case(case)
    assert case.status == "inspected" and case.inspected_at >= case.arrived_at
    assert case.inspection_result == "restock" and stock_of(sku_id) == 5
    with pytest.raises(ConcurrentUpdate):  # a second click restocks nothing
        actions.inspect(fresh_case(case), staff, "restock")
    assert stock_of(sku_id) == 5
    actions.refund(fresh_case(case), staff)
    case = fresh_case(case)
    assert case.status == "refunded" and case.refund_method == "original"
    assert [k for k, _a in case_events(case)] == ["requested", "approved", "return_posted", "arrived", "inspected",
                                                  "refunded"]
    kinds = order_event_kinds(order.id)
    assert "aftersales_arrived" in kinds and "aftersales_inspected" in kinds


def test_bad_input_and_wrong_order_of_steps(app, buyer, staff):
    order, case, _sku = _posted_return(buyer, staff)
    with pytest.raises(ConcurrentUpdate):  # inspection needs the parcel first
        actions.inspect(case, staff, "restock")
    with pytest.raises(ValidationFailed):
        actions.arrive(case, staff, "x" * 1001)
    actions.arrive(case, staff)
    with pytest.raises(ConcurrentUpdate):
        actions.arrive(fresh_case(case), staff)
    with pytest.raises(ValidationFailed) as err:
        actions.inspect(fresh_case(case), staff, "maybe")
    assert err.value.field == "inspection_result"
    refund_only = open_case(shipped_order(buyer), buyer)
    with pytest.raises(Conflict) as err:
        actions.arrive(refund_only, staff)
    assert err.value.code == "not_a_return"
    assert fresh_case(case).status == "arrived"


def test_only_staff_record_arrival_and_inspection(app, buyer, staff):
    _order, case, _sku = _posted_return(buyer, staff)
    for act in (lambda: actions.arrive(case, buyer), lambda: actions.inspect(case, buyer, "restock")):
        with pytest.raises(Forbidden):
            act()
    c = new_client(app)
    sign_in(c, buyer)
    assert c.post(f"/admin/aftersales/{case.number}/arrive", data={}).status_code in (302, 403)
    assert fresh_case(case).status == "returning"


def test_admin_pages_two_steps_and_errors(app, buyer, staff):
    _order, case, _sku = _posted_return(buyer, staff)
    s = new_client(app)
    sign_in(s, staff)
    page = s.get(f"/admin/aftersales/{case.number}").get_data(as_text=True)
    assert "Mark the parcel arrived" in page and "Record the inspection" not in page
    assert s.post(f"/admin/aftersales/{case.number}/arrive", data={"arrive-note": ""}).status_code == 303
    page = s.get(f"/admin/aftersales/{case.number}").get_data(as_text=True)
    assert "Record the inspection" in page and "Parcel arrived" in page
    bad = s.post(f"/admin/aftersales/{case.number}/inspect", data={"inspect-inspection_result": "maybe"})
    assert bad.status_code == 400 and "field-error" in bad.get_data(as_text=True)
    ok = s.post(f"/admin/aftersales/{case.number}/inspect", data={"inspect-inspection_result": "no_restock"})
    assert ok.status_code == 303 and fresh_case(case).status == "inspected"
    b = new_client(app)
    sign_in(b, buyer)
    page = b.get(f"/account/refunds/{case.number}").get_data(as_text=True)
    assert "Return inspected, refund pending" in page


def test_staff_arrive_form_needs_csrf(app, _as_secure_app, buyer, staff):
    _order, case, _sku = _posted_return(buyer, staff)
    c = new_client(_as_secure_app)
    sign_in(c, staff)
    assert c.post(f"/admin/aftersales/{case.number}/arrive", data={}).status_code == 400
    assert fresh_case(case).status == "returning"


def test_api_arrive_inspect_and_combined_receive(app, buyer, staff):
    _order, case, _sku = _posted_return(buyer, staff)
    c, h = new_client(app), bearer(staff)
    base = f"/api/v1/admin/aftersales/cases/{case.number}"
    r = c.post(f"{base}/inspect", json={"inspection_result": "restock"}, headers=h)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "concurrent_update"
    r = c.post(f"{base}/arrive", json={}, headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "arrived" and r.get_json()["arrived_at"]
    r = c.post(f"{base}/inspect", json={"inspection_result": "nope"}, headers=h)
    assert r.status_code == 422
    r = c.post(f"{base}/inspect", json={"inspection_result": "restock"}, headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "inspected" and r.get_json()["inspected_at"]
    assert c.post(f"{base}/arrive", json={}, headers=bearer(buyer)).status_code == 403
    # The old one-call path still records both steps.
    _o2, other, _s2 = _posted_return(buyer, staff)
    r = c.post(f"/api/v1/admin/aftersales/cases/{other.number}/receive", json={"inspection_result": "no_restock"},
               headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "inspected"
    assert [k for k, _a in case_events(other)][-2:] == ["arrived", "inspected"]
    paths = c.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/admin/aftersales/cases/{number}/arrive" in paths
    assert "/api/v1/admin/aftersales/cases/{number}/inspect" in paths


def test_metrics_five_segments_from_real_steps(app, buyer, staff, monkeypatch):
    """Each step at a known time: the five averages are exactly the gaps, and add up to the total."""
    from plugins.aftersales import services

    clock = {"now": None}
    base_time = services.utcnow()
    order, case, _sku = None, None, None

    def at(minutes):
        clock["now"] = base_time + timedelta(minutes=minutes)

    for module in ("plugins.aftersales.services", "plugins.aftersales.cases", "plugins.aftersales.actions"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: clock["now"] or base_time)
    at(0)
    product = make_product(price=5000, stock=5)
    order = shipped_order(buyer, items=[(product.skus[0], 1)])
    case = open_case(order, buyer, kind="return_refund", reason="changed_mind", lines={order.lines[0].id: 1})
    at(10)
    actions.approve(fresh_case(case), staff)
    at(70)
    cases.enter_return_tracking(fresh_case(case), buyer, "SF Express", "SF12340000")
    at(250)
    actions.arrive(fresh_case(case), staff)
    at(280)
    actions.inspect(fresh_case(case), staff, "no_restock")
    at(300)
    actions.refund(fresh_case(case), staff)
    rep = metrics.report(base_time + timedelta(minutes=301), 30, stored=False)
    s = rep.summary
    assert s["return_completed"] == 1 and s["return_avg_seconds"] == 300 * 60
    assert [s[f"segment_{n}_avg_seconds"] for n, _a, _b in metrics.SEGMENTS] == [600, 3600, 10800, 1800, 1200]

"""Metrics on hand-made data whose figures are computed by hand (shop zone Asia/Shanghai, UTC+8)."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from plugins.aftersales import charts, metrics
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from tests.orders.factories import make_order
from tests.plugins.aftersales.conftest import bearer, client_for, new_client
from tests.plugins.aftersales.test_money_registries import make_case

NOW = datetime(2026, 11, 20, 4, 0)  # 12:00 in Shanghai on 20 November
DAY_A, DAY_B = "2026-11-19", "2026-11-20"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A naive-UTC moment in November 2026."""
    return datetime(2026, 11, day, hour, minute)


def order(user, placed, status=OrderStatus.PAID, **values):
    row = make_order(user, status, placed_at=placed)
    values.setdefault("paid_at", placed if status != OrderStatus.PENDING_PAYMENT else None)
    db.session.execute(update(Order).where(Order.id == row.id).values(**values))
    db.session.commit()
    return row


@pytest.fixture
def data(app, enabled, buyer):
    o1 = order(buyer, at(19, 2), ship_by=at(21, 2), shipped_at=at(19, 10), status=OrderStatus.SHIPPED)
    # placed 17:00 UTC on the 18th = 01:00 on the 19th in Shanghai
    o2 = order(buyer, at(18, 17), ship_by=at(19, 17), ship_overdue_at=at(19, 17, 1))
    order(buyer, at(19, 3), status=OrderStatus.PENDING_PAYMENT, ship_by=None)
    o4 = order(buyer, at(19, 4), ship_by=at(21, 4), status=OrderStatus.CLOSED, closed_by_seller=True,
               close_reason="out_of_stock", closed_at=at(19, 5))
    o5 = order(buyer, at(20, 1), ship_by=at(20, 2), shipped_at=at(20, 3), status=OrderStatus.SHIPPED)
    order(buyer, at(20, 1, 30), status=OrderStatus.CLOSED, paid_at=None, ship_by=None, closed_by_seller=True,
          close_reason="duplicate_order", closed_at=at(20, 2))
    o7 = order(buyer, datetime(2026, 10, 21, 15), ship_by=datetime(2026, 10, 23), closed_by_seller=True,
               close_reason="out_of_stock", status=OrderStatus.CLOSED)  # 23:00 on 21 Oct local: outside
    make_case(o1, "quality", kind="return_refund", status="refunded", lines=False, created_at=at(19, 6),
              first_response_at=at(19, 6, 3), approved_at=at(19, 7), buyer_shipped_at=at(19, 10),
              arrived_at=at(19, 22), inspected_at=at(19, 23), refunded_at=at(20, 0), completed_at=at(20, 0))
    make_case(o1, "quality", status="refunded", lines=False, created_at=at(20, 1), first_response_at=at(20, 1, 10),
              approved_at=at(20, 1, 10), auto_approved=True, refunded_at=at(20, 2), completed_at=at(20, 2),
              escalated=True, escalation_decision="buyer")
    make_case(o2, "changed_mind", kind="refund_unshipped", lines=False, created_at=at(19, 8))
    make_case(o5, "not_as_described", status="refunded", lines=False, created_at=at(20, 2),
              first_response_at=at(20, 2, 1), approved_at=at(20, 2, 1), auto_approved=True, refunded_at=at(20, 3),
              completed_at=at(20, 3))
    make_case(o7, "quality", lines=False, created_at=datetime(2026, 10, 21, 15))
    make_case(o4, "damaged", lines=False, created_at=at(19, 5, 30))
    make_case(o4, "quality", lines=False, created_at=at(20, 3, 30))
    return True


def test_window_is_thirty_shop_days(app):
    start, labels, offset = metrics.window(NOW, 30)
    assert offset == 480 and start == datetime(2026, 10, 21, 16)
    assert labels[0] == "2026-10-22" and labels[-1] == DAY_B and len(labels) == 30


def test_hand_computed_figures(app, data):
    rep = metrics.report(NOW, 30, first_response_minutes=5)
    a, b, s = rep.rows[DAY_A], rep.rows[DAY_B], rep.summary
    assert (a["orders_placed"], a["paid_orders"], a["seller_cancellations"], a["ship_due"], a["late_shipments"]) \
        == (4, 3, 1, 2, 1)
    assert (b["orders_placed"], b["paid_orders"], b["seller_cancellations"], b["ship_due"], b["late_shipments"]) \
        == (2, 1, 0, 1, 1)
    assert (s["orders_placed"], s["paid_orders"], s["seller_cancellations"], s["ship_due"], s["late_shipments"]) \
        == (6, 4, 1, 3, 2)
    assert s["seller_cancellation_rate_bp"] == 1667 and s["late_shipment_rate_bp"] == 6667
    assert a["late_shipment_rate_bp"] == 5000 and b["late_shipment_rate_bp"] == 10000
    # product experience: first requests with a product reason (o1 quality on A, o5 not-as-described on B)
    assert (a["product_experience_orders"], b["product_experience_orders"]) == (1, 1)
    assert (a["product_experience_rate_bp"], b["product_experience_rate_bp"], s["product_experience_rate_bp"]) \
        == (2500, 5000, 3333)
    # completion, by completion day (all on B)
    assert (s["refund_only_completed"], s["refund_only_avg_seconds"]) == (2, 3600)
    assert (s["return_completed"], s["return_avg_seconds"]) == (1, 18 * 3600)
    # approval, posting, transit, inspection (arrived -> inspected), refund (inspected -> refunded)
    assert [s[f"segment_{n}_avg_seconds"] for n, _a, _b in metrics.SEGMENTS] == [3600, 10800, 43200, 3600, 3600]
    assert sum(s[f"segment_{n}_avg_seconds"] for n, _a, _b in metrics.SEGMENTS) == s["return_avg_seconds"]
    assert a["refund_only_completed"] == 0 and a["refund_only_avg_seconds"] is None
    # disputes: one escalated request refunded against the seller ÷ 4 paid orders
    assert (s["dispute_refunds"], s["dispute_rate_bp"], b["dispute_rate_bp"]) == (1, 2500, 10000)
    # requests by request day
    assert (a["requests"], a["approved"], a["auto_approved"], a["responded"]) == (3, 1, 0, 1)
    assert (b["requests"], b["approved"], b["auto_approved"], b["responded"]) == (3, 2, 2, 2)
    assert s["auto_approved_share_bp"] == 6667
    assert (s["first_response_avg_seconds"], s["responded_in_target"], s["first_response_in_target_bp"]) \
        == (280, 2, 6667)
    assert b["first_response_avg_seconds"] == 330


def test_empty_days_have_no_rates(app, data):
    rep = metrics.report(NOW, 30)
    quiet = rep.rows["2026-11-01"]
    assert quiet["orders_placed"] == 0 and quiet["product_experience_rate_bp"] is None
    assert quiet["first_response_avg_seconds"] is None


def test_a_shorter_window_drops_older_days(app, data):
    rep = metrics.report(NOW, 1)
    assert rep.days == [DAY_B] and rep.summary["orders_placed"] == 2


def test_rate_and_formatting_helpers():
    assert metrics.rate_bp(1, 3) == 3333 and metrics.rate_bp(2, 3) == 6667 and metrics.rate_bp(1, 0) is None
    assert charts.percent(6667) == "66.67 %" and charts.percent(None) == "—"


def test_bar_chart_is_escaped_svg():
    svg = str(charts.bar_chart(["<d1>", "d2"], [5, None], title="<script>x</script>"))
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 1


def test_metrics_page_csv_and_api(app, data, staff, monkeypatch):
    import plugins.aftersales.money_admin as money_admin
    import plugins.aftersales.money_api as money_api

    monkeypatch.setattr(money_admin, "utcnow", lambda: NOW)
    monkeypatch.setattr(money_api, "utcnow", lambda: NOW)
    c = client_for(app, staff)
    page = c.get("/admin/aftersales/money/metrics")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "33.33 %" in html and "66.67 %" in html
    csv_text = c.get("/admin/aftersales/money/metrics.csv").get_data(as_text=True)
    header, *rows = csv_text.strip().splitlines()
    assert header.lstrip("\ufeff").startswith("day,orders_placed,paid_orders")
    day_b = next(r for r in rows if r.startswith(DAY_B))
    assert day_b.split(",")[1:3] == ["2", "1"]
    assert rows[-1].startswith("total,6,4,2,3333")
    body = new_client(app).get("/api/v1/aftersales/money/metrics?days=30", headers=bearer(staff)).get_json()
    assert body["summary"]["late_shipment_rate_bp"] == 6667 and len(body["days"]) == 30
    assert new_client(app).get("/api/v1/aftersales/money/metrics?days=0", headers=bearer(staff)).status_code == 422


def test_metrics_api_is_staff_only(app, enabled, buyer):
    assert new_client(app).get("/api/v1/aftersales/money/metrics", headers=bearer(buyer)).status_code == 403


def test_dashboard_widget_and_menu(app, enabled, staff):
    html = client_for(app, staff).get("/admin/").get_data(as_text=True)
    assert "After-sales, last 30 days" in html and "/admin/aftersales/money/metrics" in html
    assert "/admin/aftersales/money/registries" in html


def test_money_endpoints_are_in_the_openapi_document(app, enabled):
    paths = new_client(app).get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/aftersales/money/credit", "/api/v1/aftersales/money/metrics",
                 "/api/v1/aftersales/money/registries/wrong-shipments", "/api/v1/aftersales/money/registries/parcels",
                 "/api/v1/aftersales/money/registries/quality-flags",
                 "/api/v1/aftersales/money/buyers/{user_id}/credit"):
        assert path in paths, path

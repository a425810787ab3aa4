from __future__ import annotations

import logging
import re
from datetime import timedelta

from markupsafe import Markup
from sqlalchemy import event

from storefront.admin.shell_services import dashboard_summary, local_day_start
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.status import OrderStatus
from tests.conftest import make_test_app
from tests.factories import login, make_product, make_staff
from tests.notify.helpers import add_outbox_messages, make_order


def _orders(buyer):
    now = utcnow()
    make_order(buyer, status=OrderStatus.PAID, ship_by=now + timedelta(hours=10))
    make_order(buyer, status=OrderStatus.PAID, ship_by=now - timedelta(hours=1))  # overdue
    make_order(buyer, status=OrderStatus.PENDING_PAYMENT)
    make_order(buyer, status=OrderStatus.PENDING_PAYMENT)
    make_order(buyer, status=OrderStatus.PENDING_PAYMENT)
    make_order(buyer, status=OrderStatus.SHIPPED)
    make_order(buyer, status=OrderStatus.CLOSED)
    # Placed two days ago: not "today".
    make_order(buyer, status=OrderStatus.COMPLETED, placed_at=now - timedelta(days=2))


def test_summary_counts(app, buyer):
    _orders(buyer)
    summary = dashboard_summary()
    assert summary.to_ship == 2
    assert summary.overdue == 1
    assert summary.awaiting_payment == 3
    assert summary.today_orders == 7
    # paid + paid + shipped placed today, 198.00 each; pending and closed do not count.
    assert summary.today_revenue == 3 * 19800
    assert len(summary.recent) == 8
    assert summary.recent[0].id > summary.recent[-1].id


def test_summary_uses_a_fixed_number_of_queries(app, buyer):
    for _ in range(3):
        _orders(buyer)
    make_product(stock=1, skus=3)
    statements = []

    def count(*_args):
        statements.append(1)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        db.session.commit()
        summary = dashboard_summary()
        for sku in summary.low_stock:
            sku.product.name  # already loaded: no query per row
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(summary.low_stock) == 3
    assert len(statements) <= 8


def test_recent_orders_are_limited_to_ten(app, buyer):
    for _ in range(12):
        make_order(buyer)
    assert len(dashboard_summary().recent) == 10


def test_day_starts_at_local_midnight(app):
    now = utcnow()
    start = local_day_start(now)
    assert start <= now < start + timedelta(days=1)
    # Asia/Shanghai is UTC+8: local midnight is 16:00 UTC.
    assert start.hour == 16 and start.minute == 0


def test_dashboard_page_shows_figures_and_links(staff_client, buyer):
    _orders(buyer)
    make_product(name="Tiny stock mug", stock=2)
    make_product(name="Plenty tee", stock=100)
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert "Overdue to ship" in html
    assert "/admin/orders?status=paid" in html
    assert "overdue=y" in html
    assert "Tiny stock mug" in html
    assert "Plenty tee" not in html
    assert "T0000" in html  # recent order numbers


def test_dashboard_without_orders(staff_client):
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert "No orders yet." in html
    assert "could not be sent" not in html


def test_failed_notifications_are_flagged(staff_client):
    from storefront.notify.models import OutboxMessage

    db.session.add(OutboxMessage(kind="order_paid", to_address="a@example.com", subject="s", body="b",
                                 status="failed", attempts=8))
    db.session.commit()
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert "Notifications that could not be sent" in html


def test_widgets_render_and_a_failing_widget_is_skipped(app, database_url, instance_dir, caplog):
    shop = make_test_app(database_url, instance_dir,
                         STOREFRONT_PLUGINS=["tests.plugins_fixture.faulty", "tests.plugins_fixture.sample"])
    with shop.app_context():
        from storefront.admin.shell_services import set_plugin_enabled

        set_plugin_enabled("sample", True, actor=None)
        staff = make_staff()
        client = shop.test_client()
        login(client, staff)
    with caplog.at_level(logging.ERROR):
        response = client.get("/admin/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Sample widget" in html and "<b>sample-widget-body</b>" in html
    assert any("faulty" in r.getMessage() for r in caplog.records)


def test_plain_string_widget_is_escaped(app):
    from storefront.admin.dashboard import dashboard_widgets
    from storefront.plugins.types import Widget

    class Fake:
        @staticmethod
        def call_safely(name, **kwargs):
            return [[Widget("t", "<script>x</script>"), Widget("u", Markup("<i>ok</i>"))]]

    import storefront.admin.dashboard as module

    original = module.get_host
    module.get_host = lambda: Fake()
    try:
        with app.test_request_context():
            rendered = dashboard_widgets(None)
    finally:
        module.get_host = original
    assert str(rendered[0]["html"]) == "&lt;script&gt;x&lt;/script&gt;"
    assert str(rendered[1]["html"]) == "<i>ok</i>"


LATE_LABEL = "Notifications waiting over 5 minutes"


def test_notifications_nobody_sends_are_flagged(staff_client):
    """A worker that is not running (or not keeping up) shows on the dashboard before buyers
    complain that they never heard about their payment."""
    now = utcnow()
    add_outbox_messages(status="pending", next_attempt_at=now - timedelta(minutes=1))  # due: the next pass sends it
    add_outbox_messages(status="failed", next_attempt_at=now - timedelta(days=1))  # counted as failed, not late
    add_outbox_messages(status="pending", next_attempt_at=now + timedelta(minutes=30))  # a retry, not yet due
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert LATE_LABEL not in html
    add_outbox_messages(status="pending", next_attempt_at=now - timedelta(minutes=6))
    add_outbox_messages(status="sending", next_attempt_at=now - timedelta(minutes=6))  # its worker died
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert LATE_LABEL in html
    assert re.search(r"<strong>2</strong>\s*" + LATE_LABEL, html)


def test_a_large_backlog_is_counted_up_to_a_cap(staff_client, monkeypatch):
    from storefront.notify import delivery

    monkeypatch.setattr("storefront.admin.shell_services.LATE_COUNT_CAP", 2)
    monkeypatch.setattr(delivery, "LATE_COUNT_CAP", 2)
    for _ in range(4):
        add_outbox_messages(status="pending", next_attempt_at=utcnow() - timedelta(hours=1))
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert re.search(r"<strong>2\+</strong>\s*" + LATE_LABEL, html)


def test_the_late_notifications_alert_is_translated(staff_client):
    add_outbox_messages(status="pending", next_attempt_at=utcnow() - timedelta(minutes=10))
    html = staff_client.get("/admin/?lang=zh_Hans").get_data(as_text=True)
    assert "条通知已等待超过 5 分钟" in html

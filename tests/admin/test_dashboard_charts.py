"""Dashboard charts: sales per day and orders to ship, as SVG and as CSV (staff only)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

from sqlalchemy import event

from storefront import charts
from storefront.admin import shell_services
from storefront.admin.shell_services import orders_to_ship, sales_per_day
from storefront.clock import shop_today, utcnow
from storefront.extensions import db
from storefront.orders.status import OrderStatus
from tests.conftest import new_client
from tests.notify.helpers import make_order

# 14:00 in Shanghai (UTC+8) on 2 December 2026.
NOW = datetime(2026, 12, 2, 6, 0)


def _sales_orders(buyer):
    make_order(buyer, status=OrderStatus.PAID, total=10000, placed_at=NOW - timedelta(hours=1))
    make_order(buyer, status=OrderStatus.SHIPPED, total=5000, placed_at=NOW - timedelta(hours=2))
    # 00:30 on 2 December in Shanghai, still 1 December in UTC: counts for the 2nd.
    make_order(buyer, status=OrderStatus.PAID, total=3000, placed_at=datetime(2026, 12, 1, 16, 30))
    # 23:30 on 1 December in Shanghai.
    make_order(buyer, status=OrderStatus.COMPLETED, total=7000, placed_at=datetime(2026, 12, 1, 15, 30))
    # Not paid, or closed: no revenue.
    make_order(buyer, status=OrderStatus.PENDING_PAYMENT, total=99900, placed_at=NOW - timedelta(hours=1))
    make_order(buyer, status=OrderStatus.CLOSED, total=88800, placed_at=NOW - timedelta(hours=1))
    # The first day of the window (3 November) is in; the day before is out.
    make_order(buyer, status=OrderStatus.PAID, total=100, placed_at=datetime(2026, 11, 3, 1, 0))
    make_order(buyer, status=OrderStatus.PAID, total=200, placed_at=datetime(2026, 11, 2, 1, 0))
    # Placed after NOW: outside today's window too (the chart ends today).
    make_order(buyer, status=OrderStatus.PAID, total=400, placed_at=datetime(2026, 12, 2, 16, 0))


def test_sales_per_day_sums_paid_orders_per_shop_day(app, buyer):
    _sales_orders(buyer)
    days = sales_per_day(NOW)
    assert len(days) == 30
    assert days[0].day == date(2026, 11, 3) and days[-1].day == date(2026, 12, 2)
    by_day = {d.day: (d.orders, d.paid) for d in days}
    assert by_day[date(2026, 12, 2)] == (3, 18000)
    assert by_day[date(2026, 12, 1)] == (1, 7000)
    assert by_day[date(2026, 11, 3)] == (1, 100)
    assert sum(d.paid for d in days) == 25100
    assert sum(1 for d in days if d.orders == 0) == 27


def test_sales_per_day_is_one_query(app, buyer):
    _sales_orders(buyer)
    statements = []
    engine = db.engine

    def count(_conn, _cursor, statement, *_args):
        if "FROM orders" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        sales_per_day(NOW)
        orders_to_ship(NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2


def test_cached_sales_keep_past_days_and_read_today_live(app, buyer):
    shell_services._past_sales.clear()
    _sales_orders(buyer)
    first = sales_per_day(NOW, cache_seconds=300)
    assert first == sales_per_day(NOW)
    # A late change to a past day waits for the cache; today's orders show at once.
    make_order(buyer, status=OrderStatus.PAID, total=5, placed_at=datetime(2026, 11, 20, 1, 0))
    make_order(buyer, status=OrderStatus.PAID, total=7, placed_at=NOW - timedelta(minutes=5))
    statements = []

    def count(_conn, _cursor, statement, *_args):
        if "FROM orders" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        cached = sales_per_day(NOW, cache_seconds=300)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1  # today only
    assert cached[:-1] == first[:-1]
    assert cached[-1].paid == first[-1].paid + 7
    # Expired (or uncached): everything fresh.
    assert sum(d.paid for d in sales_per_day(NOW, cache_seconds=-1)) == sum(d.paid for d in first) + 12


def test_orders_to_ship_by_deadline(app, buyer):
    make_order(buyer, status=OrderStatus.PAID, ship_by=NOW - timedelta(hours=1))       # overdue
    make_order(buyer, status=OrderStatus.PAID, ship_by=NOW - timedelta(days=3))        # overdue
    make_order(buyer, status=OrderStatus.PAID, ship_by=NOW + timedelta(hours=1))       # today
    make_order(buyer, status=OrderStatus.PAID, ship_by=datetime(2026, 12, 2, 16, 0))   # 3 Dec, 00:00 local
    make_order(buyer, status=OrderStatus.PAID, ship_by=NOW + timedelta(days=20))       # later
    no_deadline = make_order(buyer, status=OrderStatus.PAID)
    no_deadline.ship_by = None
    db.session.commit()
    make_order(buyer, status=OrderStatus.SHIPPED, ship_by=NOW + timedelta(hours=1))    # not to ship
    buckets = orders_to_ship(NOW)
    assert [b.key for b in buckets][:3] == ["overdue", "2026-12-02", "2026-12-03"]
    assert buckets[-1].key == "later" and len(buckets) == 16
    counts = {b.key: b.orders for b in buckets}
    assert counts["overdue"] == 2 and counts["2026-12-02"] == 1 and counts["2026-12-03"] == 1
    assert counts["later"] == 2
    assert sum(counts.values()) == 6


def test_dashboard_shows_both_charts_with_csv_links(staff_client, buyer):
    make_order(buyer, status=OrderStatus.PAID, total=12345, placed_at=utcnow())
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert html.count('<svg class="chart') == 2
    assert "chart-sales" in html and "chart-ship" in html
    assert 'viewBox="0 0 400 170" width="100%"' in html and 'role="img"' in html
    assert "<title id=" in html and "<desc id=" in html
    assert "/admin/dashboard/sales.csv" in html and "/admin/dashboard/to-ship.csv" in html
    assert "CN¥123.45" in html  # the bar's tooltip and the table of numbers
    assert "<script" not in html.split("<main", 1)[-1].split("</main>", 1)[0]


def test_dashboard_charts_in_chinese(staff_client, buyer):
    make_order(buyer, status=OrderStatus.PAID, total=12345, placed_at=utcnow())
    html = staff_client.get("/admin/?lang=zh_Hans").get_data(as_text=True)
    today = shop_today(utcnow())
    assert f"{today.month}月{today.day}日" in html and "¥123.45" in html


def _csv(response):
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_sales_csv_matches_the_chart(staff_client, buyer):
    now = utcnow()
    make_order(buyer, status=OrderStatus.PAID, total=12345, placed_at=now)
    make_order(buyer, status=OrderStatus.COMPLETED, total=55, placed_at=now)
    response = staff_client.get("/admin/dashboard/sales.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    header, *rows = _csv(response)
    assert header == ["date", "orders", "paid_amount", "currency"]
    assert len(rows) == 30
    assert rows[-1] == [shop_today(now).isoformat(), "2", "124.00", "CNY"]
    assert all(r[1] == "0" and r[2] == "0.00" for r in rows[:-1])


def test_ship_csv_matches_the_chart(staff_client, buyer):
    now = utcnow()
    make_order(buyer, status=OrderStatus.PAID, ship_by=now - timedelta(minutes=5))
    make_order(buyer, status=OrderStatus.PAID, ship_by=now + timedelta(days=30))
    response = staff_client.get("/admin/dashboard/to-ship.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    header, *rows = _csv(response)
    assert header == ["ship_by", "orders"]
    assert rows[0] == ["overdue", "1"] and rows[-1] == ["later", "1"]
    assert [r[0] for r in rows[1:-1]] == [(shop_today(now) + timedelta(days=i)).isoformat() for i in range(14)]


def test_charts_and_csv_are_staff_only(app, buyer_client):
    for url in ("/admin/dashboard/sales.csv", "/admin/dashboard/to-ship.csv", "/admin/"):
        assert buyer_client.get(url).status_code == 403
    anonymous = new_client(app)
    for url in ("/admin/dashboard/sales.csv", "/admin/dashboard/to-ship.csv"):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_core_chart_escapes_labels_and_describes_the_data(app):
    svg = str(charts.bar_chart(["<b>1</b>", "2"], [3, None], title="<script>t</script>"))
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    assert "&lt;b&gt;1&lt;/b&gt;" in svg and svg.count("<rect") == 1 and svg.count("<circle") == 1
    assert "total 3, highest 3 on &lt;b&gt;1&lt;/b&gt;" in svg
    assert "style=" not in svg  # the CSP forbids inline styles
    empty = str(charts.bar_chart([], [], title="Nothing"))
    assert "No data." in empty and "<rect" not in empty

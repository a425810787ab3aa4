from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from storefront.orders.csv_io import neutralise
from storefront.orders.models import OrderEvent
from storefront.extensions import db
from storefront.orders.status import OrderStatus

from ..factories import make_staff, make_user
from .factories import make_order, reload, session_login


@pytest.fixture
def staff_client(client, app):
    session_login(client, make_staff())
    return client


def test_neutralise():
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("+8613900000000") == "'+8613900000000"
    assert neutralise("-2") == "'-2" and neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("北京市朝阳区") == "北京市朝阳区" and neutralise(None) == ""


def test_export_awaiting_shipment(staff_client, app):
    buyer = make_user()
    paid = make_order(buyer, OrderStatus.PAID, ship_name="=HYPERLINK(\"http://evil\")", ship_address="北京市朝阳区 1号",
                      buyer_note="@SUM(1)", ship_phone="13900001111")
    unpaid = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    shipped = make_order(buyer, OrderStatus.SHIPPED)
    response = staff_client.get("/admin/orders/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["number", "placed_at", "name", "phone", "address", "items", "buyer_note"]
    numbers = [r[0] for r in rows[1:]]
    assert numbers == [paid.number] and unpaid.number not in numbers and shipped.number not in numbers
    row = rows[1]
    assert row[2] == "'=HYPERLINK(\"http://evil\")"
    assert row[3] == "13900001111" and row[4] == "北京市朝阳区 1号"
    assert row[5] == "T-shirt (Black / S) x1" and row[6] == "'@SUM(1)"


def _upload(client, text: str, encoding="utf-8", name="tracking.csv"):
    data = {"file": (io.BytesIO(text.encode(encoding)), name)}
    return client.post("/admin/orders/import", data=data, content_type="multipart/form-data",
                       follow_redirects=True)  # the upload redirects to the job's report


def test_import_mix_of_good_and_bad_rows(staff_client, app):
    buyer = make_user()
    good1, good2 = make_order(buyer, OrderStatus.PAID), make_order(buyer, OrderStatus.PAID)
    unpaid = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    bad_carrier, bad_tracking = make_order(buyer, OrderStatus.PAID), make_order(buyer, OrderStatus.PAID)
    text = "\n".join([
        "order_number,carrier,tracking_number",
        f"{good1.number},SF Express,SF1000000001",
        f"{good2.number},zto,ZT-2000",
        "NOPE000,ZTO,ZT123456",
        f"{unpaid.number},ZTO,ZT123457",
        f"{bad_carrier.number},Pigeon Post,PP123456",
        f"{bad_tracking.number},ZTO,=cmd|' /C calc'!A0",
        f"{good1.number},ZTO,ZT999999",
        "only-one-column",
    ])
    response = _upload(staff_client, text, encoding="utf-8-sig")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 shipped, 6 with problems." in html
    for message in ("Unknown order", "Not awaiting shipment", "Choose one of the shop", "4 to 40 letters",
                    "Duplicate row", "Expected 3 columns"):
        assert message in html, message
    assert reload(good1).status == OrderStatus.SHIPPED and reload(good1).tracking_number == "SF1000000001"
    assert reload(good2).carrier == "ZTO"
    for order in (unpaid, bad_carrier, bad_tracking):
        assert reload(order).status in (OrderStatus.PAID, OrderStatus.PENDING_PAYMENT)
        assert reload(order).tracking_number is None
    shipped_events = db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.kind == "status"))
    assert shipped_events == 2


def test_import_gbk_file(staff_client, app):
    order = make_order(make_user(), OrderStatus.PAID)
    response = _upload(staff_client, f"订单号,承运商,运单号\n{order.number},EMS,EMS0001\n", encoding="gbk")
    assert "1 shipped, 0 with problems." in response.get_data(as_text=True)
    assert reload(order).carrier == "EMS"


def test_import_rejects_empty_huge_and_missing(staff_client, app):
    response = _upload(staff_client, "")
    assert response.status_code == 422 and "no rows" in response.get_data(as_text=True)
    response = _upload(staff_client, "x" * (1024 * 1024 + 10))
    assert response.status_code == 422 and "too large" in response.get_data(as_text=True)
    response = staff_client.post("/admin/orders/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "field-error" in response.get_data(as_text=True)
    assert staff_client.get("/admin/orders/batch").status_code == 200


def test_export_uses_shop_time(staff_client, app):
    from datetime import datetime

    order = make_order(make_user(), OrderStatus.PAID, placed_at=datetime(2026, 11, 10, 16, 30))
    rows = list(csv.reader(io.StringIO(staff_client.get("/admin/orders/export.csv").get_data().decode("utf-8-sig"))))
    assert rows[1][0] == order.number and rows[1][1] == "2026-11-11 00:30"  # Asia/Shanghai

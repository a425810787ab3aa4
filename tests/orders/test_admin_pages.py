from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storefront.audit.models import AuditEntry
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.models import OrderNote
from storefront.orders.status import NoteFlag, OrderStatus

from ..factories import make_staff, make_user
from .factories import make_order, reload, session_login


@pytest.fixture
def staff_client(client, app):
    staff = make_staff()
    session_login(client, staff)
    client.staff = staff
    return client


def test_buyer_gets_403_and_anonymous_login(client, app):
    order = make_order(make_user(), OrderStatus.PAID)
    urls = ["/admin/orders", f"/admin/orders/{order.number}", "/admin/orders/batch", "/admin/orders/export.csv"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    session_login(client, make_user())
    for url in urls:
        assert client.get(url).status_code == 403
    response = client.post(f"/admin/orders/{order.number}/ship",
                           data={"ship-carrier": "ZTO", "ship-tracking_number": "ZT123456"})
    assert response.status_code == 403
    assert reload(order).status == OrderStatus.PAID


def test_list_filters(staff_client, app):
    buyer = make_user()
    paid = make_order(buyer, OrderStatus.PAID, ship_phone="13711112222")
    overdue = make_order(buyer, OrderStatus.PAID, ship_by=utcnow() - timedelta(hours=1))
    unpaid = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    old = make_order(buyer, OrderStatus.COMPLETED, placed_at=utcnow() - timedelta(days=40))

    def page(query=""):
        response = staff_client.get("/admin/orders" + query)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    html = page()
    assert all(o.number in html for o in (paid, overdue, unpaid, old))
    assert "Overdue to ship" in html
    html = page("?status=pending_payment")
    assert unpaid.number in html and paid.number not in html
    html = page("?overdue=y")
    assert overdue.number in html and paid.number not in html and unpaid.number not in html
    html = page("?q=13711112222")
    assert paid.number in html and overdue.number not in html
    html = page(f"?q={paid.number}")
    assert paid.number in html and overdue.number not in html
    html = page(f"?q={paid.number[:-1]}")  # prefix
    assert paid.number in html
    day = (utcnow() - timedelta(days=40)).date()
    html = page(f"?date_from={day - timedelta(days=1)}&date_to={day + timedelta(days=1)}")
    assert old.number in html and paid.number not in html
    html = page("?date_from=not-a-date&status=nope")  # bad filters: error next to the field, no 500
    assert "field-error" in html


def test_list_keyset_pagination(staff_client, app):
    orders = [make_order(make_user(), OrderStatus.PAID) for _ in range(3)]
    from storefront.admin import orders as admin_orders

    original = admin_orders.PAGE_SIZE
    admin_orders.PAGE_SIZE = 2
    try:
        html = staff_client.get("/admin/orders").get_data(as_text=True)
        assert orders[2].number in html and orders[1].number in html and orders[0].number not in html
        html = staff_client.get(f"/admin/orders?after={orders[1].id}").get_data(as_text=True)
        assert orders[0].number in html and orders[1].number not in html
    finally:
        admin_orders.PAGE_SIZE = original


def test_detail_and_actions(staff_client, app):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)
    response = staff_client.get(f"/admin/orders/{order.number}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "Mark as shipped" in html and "SF Express" in html and "buyer_unreachable" in html
    assert "duplicate_order" in html

    # bad tracking number: error next to the field, nothing changes
    response = staff_client.post(f"/admin/orders/{order.number}/ship",
                                 data={"ship-carrier": "ZTO", "ship-tracking_number": "bad no!"})
    assert response.status_code == 422 and "field-error" in response.get_data(as_text=True)
    assert reload(order).status == OrderStatus.PAID
    response = staff_client.post(f"/admin/orders/{order.number}/ship",
                                 data={"ship-carrier": "Pigeon", "ship-tracking_number": "ZT123456"})
    assert response.status_code == 422
    response = staff_client.post(f"/admin/orders/{order.number}/notes",
                                 data={"note-body": "Address changed", "note-flag": "red"})
    assert response.status_code == 303
    response = staff_client.post(f"/admin/orders/{order.number}/ship",
                                 data={"ship-carrier": "ZTO", "ship-tracking_number": "ZT123456"})
    assert response.status_code == 303
    order = reload(order)
    assert order.status == OrderStatus.SHIPPED and order.tracking_number == "ZT123456"
    response = staff_client.post(f"/admin/orders/{order.number}/extend-auto-confirm")
    assert response.status_code == 303
    assert reload(order).auto_confirm_extended == 1
    html = staff_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert "flag-red" in html and "Address changed" in html and "staff only" in html
    assert "flag-red" in staff_client.get("/admin/orders").get_data(as_text=True)
    note = db.session.execute(select(OrderNote)).scalar_one()
    assert note.flag == NoteFlag.RED and note.author_id == staff_client.staff.id
    actions = set(db.session.execute(select(AuditEntry.action)).scalars())
    assert {"order.ship", "order.extend_auto_confirm", "order.note"} <= actions


def test_cancel_needs_reason_and_note(staff_client, app):
    order = make_order(make_user(), OrderStatus.PAID)
    url = f"/admin/orders/{order.number}/cancel"
    response = staff_client.post(url, data={"cancel-reason": "buyer_cancelled"})
    assert response.status_code == 422
    response = staff_client.post(url, data={"cancel-reason": "buyer_unreachable", "cancel-note": ""})
    assert response.status_code == 422
    assert "reach the buyer" in response.get_data(as_text=True)
    assert reload(order).status == OrderStatus.PAID
    response = staff_client.post(url, data={"cancel-reason": "out_of_stock"})
    assert response.status_code == 303
    order = reload(order)
    assert order.status == OrderStatus.CLOSED and order.closed_by_seller


def test_remind_unpaid(staff_client, app):
    order = make_order(make_user(), OrderStatus.PENDING_PAYMENT)
    assert "Remind the buyer" in staff_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert staff_client.post(f"/admin/orders/{order.number}/remind").status_code == 303
    response = staff_client.post(f"/admin/orders/{order.number}/remind", follow_redirects=True)
    assert "less than an hour ago" in response.get_data(as_text=True)


def test_unknown_order_404(staff_client, app):
    assert staff_client.get("/admin/orders/NOPE").status_code == 404
    assert staff_client.post("/admin/orders/NOPE/ship", data={}).status_code == 404

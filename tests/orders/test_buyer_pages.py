from __future__ import annotations

from storefront.extensions import db
from storefront.orders.models import Order, OrderNote
from storefront.orders.status import NoteFlag, OrderStatus

from ..conftest import csrf_token_from
from ..factories import make_staff, make_user
from .factories import make_order, session_login


def test_anonymous_is_sent_to_login(client, app):
    order = make_order(make_user(), OrderStatus.PAID)
    for url in ("/orders/", f"/orders/{order.number}"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/account/login" in response.headers["Location"]
    response = client.post(f"/orders/{order.number}/cancel")
    assert response.status_code == 302
    db.session.refresh(order)
    assert order.status == OrderStatus.PAID


def test_list_shows_own_orders_with_tabs_and_keyset(client, app):
    buyer, other = make_user(), make_user()
    mine = [make_order(buyer, OrderStatus.PAID) for _ in range(22)]
    shipped = make_order(buyer, OrderStatus.SHIPPED)
    theirs = make_order(other, OrderStatus.PAID)
    session_login(client, buyer)
    response = client.get("/orders/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert shipped.number in html and theirs.number not in html
    assert mine[-1].number in html and mine[0].number not in html  # 20 per page, newest first
    assert 'rel="next"' in html
    next_page = client.get(f"/orders/?after={mine[3].id}").get_data(as_text=True)
    assert mine[0].number in next_page and mine[3].number not in next_page
    tab = client.get("/orders/?status=shipped").get_data(as_text=True)
    assert shipped.number in tab and mine[-1].number not in tab
    assert client.get("/orders/?status=bogus").status_code == 200


def test_detail_shows_breakdown_timeline_and_hides_staff_notes(client, app):
    from storefront.orders import services

    buyer, staff = make_user(), make_staff()
    order = make_order(buyer, OrderStatus.PAID, discount=500, buyer_note="Leave at door")
    with app.test_request_context("/"):
        services.add_note(order, staff, "STAFF-SECRET changed address", NoteFlag.RED, is_staff=True)
        services.add_note(order, buyer, "BUYER-NOTE ring twice", is_staff=False)
        services.ship_order(order, staff, "ZTO", "ZT12345678")
    session_login(client, buyer)
    response = client.get(f"/orders/{order.number}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "Test discount" in html and "ZT12345678" in html and "ZTO" in html
    assert "BUYER-NOTE ring twice" in html
    assert "STAFF-SECRET" not in html
    assert "Leave at door" in html
    assert 'class="timeline"' in html and "Shipped" in html


def test_other_buyers_order_is_404(client, app):
    owner, other = make_user(), make_user()
    order = make_order(owner, OrderStatus.PAID)
    session_login(client, other)
    assert client.get(f"/orders/{order.number}").status_code == 404
    assert client.get("/orders/NOPE123").status_code == 404
    for action in ("cancel", "confirm"):
        assert client.post(f"/orders/{order.number}/{action}").status_code == 404
    assert client.post(f"/orders/{order.number}/notes", data={"body": "hi"}).status_code == 404
    db.session.refresh(order)
    assert order.status == OrderStatus.PAID
    assert db.session.query(OrderNote).count() == 0


def test_buyer_cancels_and_confirms(client, app):
    buyer = make_user()
    paid = make_order(buyer, OrderStatus.PAID)
    shipped = make_order(buyer, OrderStatus.SHIPPED)
    session_login(client, buyer)
    response = client.post(f"/orders/{paid.number}/cancel")
    assert response.status_code == 303
    db.session.rollback()  # end the test's read snapshot
    assert db.session.get(Order, paid.id).status == OrderStatus.CLOSED
    # a shipped order cannot be cancelled: explained, unchanged
    response = client.post(f"/orders/{shipped.number}/cancel", follow_redirects=True)
    assert "already shipped" in response.get_data(as_text=True)
    db.session.rollback()  # end the test's read snapshot
    assert db.session.get(Order, shipped.id).status == OrderStatus.SHIPPED
    client.post(f"/orders/{shipped.number}/confirm")
    db.session.rollback()  # end the test's read snapshot
    assert db.session.get(Order, shipped.id).status == OrderStatus.COMPLETED


def test_buyer_note_form_errors_and_success(client, app):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)
    session_login(client, buyer)
    response = client.post(f"/orders/{order.number}/notes", data={"body": ""})
    assert response.status_code == 422
    assert "field-error" in response.get_data(as_text=True)
    response = client.post(f"/orders/{order.number}/notes", data={"body": "x" * 1001})
    assert response.status_code == 422
    assert db.session.query(OrderNote).count() == 0
    response = client.post(f"/orders/{order.number}/notes", data={"body": "Please use SF"})
    assert response.status_code == 303
    assert db.session.query(OrderNote).one().body == "Please use SF"


def test_csrf_is_required(secure_client, app):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)
    session_login(secure_client, buyer)
    assert secure_client.post(f"/orders/{order.number}/cancel").status_code == 400
    db.session.refresh(order)
    assert order.status == OrderStatus.PAID
    token = csrf_token_from(secure_client.get(f"/orders/{order.number}").get_data(as_text=True))
    assert secure_client.post(f"/orders/{order.number}/cancel", data={"csrf_token": token}).status_code == 303
    db.session.rollback()  # end the test's read snapshot
    assert db.session.get(Order, order.id).status == OrderStatus.CLOSED


def test_through_the_real_login_form(client, app):
    from ..factories import login

    buyer = make_user()
    order = make_order(buyer, OrderStatus.SHIPPED)
    login(client, buyer)
    html = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert order.tracking_number in html and "Confirm receipt" in html

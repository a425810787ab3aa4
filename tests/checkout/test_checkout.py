"""Checkout: page, placing, idempotency, tampering, problems, split orders, API."""
from __future__ import annotations

import threading
import uuid

import pytest

from storefront.cart import services as cart_services
from storefront.catalog.models import Sku
from storefront.checkout import services
from storefront.checkout.pricing import order_breakdown, price_cart
from storefront.errors import CheckoutBlocked, Conflict, NotFound
from storefront.extensions import db
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import OrderStatus
from storefront.payments.models import Payment
from storefront.plugins import PRESELECTED, Adjustment, DeliveryOption, Offer, Problem, hookimpl
from storefront.settings import set_settings

from .helpers import ADDRESS, api_token, checkout_form, fresh, fresh_client, make_address, plugin, sign_in
from ..factories import make_product, make_user


def buyer_with_cart(app, *items, user=None):
    """A buyer whose cart holds ``items`` ((sku, quantity) pairs)."""
    user = user or make_user()
    with app.test_request_context():
        cart = cart_services.get_cart(create=True, user=user)
        for sku, quantity in items:
            cart_services.add_item(cart, sku.id, quantity)
    return user


def counts():
    fresh()
    return (db.session.scalar(db.select(db.func.count()).select_from(Payment)),
            db.session.scalar(db.select(db.func.count()).select_from(Order)))


class TenOff:
    """A test plugin: ¥10 off the order, and a 'Presale' group for one SKU if asked."""

    def __init__(self, amount=1000, presale_sku=None, problem=None):
        self.amount, self.presale_sku, self.problem = amount, presale_sku, problem

    @hookimpl
    def cart_adjustments(self, cart, lines, subtotal, buyer, delivery):
        return [Adjustment(code="TEN", label="Ten off", amount=-self.amount, source="testplugin", order=200)]

    @hookimpl
    def product_offer(self, product, sku, buyer):
        if sku.id == self.presale_sku:
            return Offer(source="testplugin", group="presale", ship_promise="Ships by 1 December")
        return None

    @hookimpl
    def validate_checkout(self, checkout):
        return [Problem("test_block", self.problem, "testplugin")] if self.problem else []


def test_checkout_requires_sign_in(web):
    response = web.get("/checkout/")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    assert web.post("/checkout/", data=checkout_form()).status_code == 302
    assert counts() == (0, 0)


def test_place_order_with_new_address(app, web):
    sku = make_product(name="Wool socks", price=2500, stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 2))
    sign_in(web, user)
    page = web.get("/checkout/").get_data(as_text=True)
    assert "Wool socks" in page and 'name="idempotency_key"' in page and "Courier" in page
    response = web.post("/checkout/", data=checkout_form(note="Leave at the door"))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/pay/" in response.headers["Location"]
    fresh()
    order = db.session.execute(db.select(Order)).scalar_one()
    assert order.status == OrderStatus.PENDING_PAYMENT and order.user_id == user.id
    assert (order.subtotal, order.shipping_total, order.total) == (5000, 1000, 6000)
    assert order.ship_name == ADDRESS["name"] and "Keji Road" in order.ship_address
    assert order.buyer_note == "Leave at the door"
    assert order.pay_deadline is not None and order.payment.amount == 6000
    assert len(order.number) == 16 and order.number.isdigit()
    assert [e.kind for e in order.events] == ["placed"]
    assert db.session.get(Sku, sku.id).stock == 3
    assert cart_services.find_cart(user).lines == []
    line = order.lines[0]
    assert (line.unit_price, line.quantity, line.line_subtotal, line.paid_amount) == (2500, 2, 5000, 5000)


def test_saved_address_and_other_buyers_address(app, web):
    sku = make_product(stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 1))
    mine = make_address(user, name="Han Meimei")
    theirs = make_address(make_user(), name="Stranger")
    sign_in(web, user)
    response = web.post("/checkout/", data=checkout_form(address_id=str(theirs.id), name="", phone="", line1=""))
    assert response.status_code == 404
    assert counts() == (0, 0)
    response = web.post("/checkout/", data=checkout_form(address_id=str(mine.id), name="", phone="", line1=""))
    assert response.status_code == 302
    fresh()
    assert db.session.execute(db.select(Order)).scalar_one().ship_name == "Han Meimei"


@pytest.mark.parametrize("address_id", ["99999999999999999999", "-1", "0", "1e3"])
def test_an_address_id_no_row_can_have_is_refused_on_its_field(app, web, address_id):
    # Past the database's integer range a look-up raised in the driver (a 500) instead of
    # answering "not yours"; nothing is written either way.
    sku = make_product(stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 1))
    make_address(user)
    sign_in(web, user)
    response = web.post("/checkout/", data=checkout_form(address_id=address_id, name="", phone="", line1=""))
    assert response.status_code in (404, 422, 200), response.status_code
    assert counts() == (0, 0)
    headers = api_token(user)
    body = {"idempotency_key": uuid.uuid4().hex, "delivery_code": "courier", "address_id": 10 ** 20}
    answer = fresh_client(app).post("/api/v1/checkout", json=body, headers=headers)
    assert answer.status_code in (404, 422), answer.get_json()
    assert answer.get_json()["error"]["field"] == "address_id"
    assert counts() == (0, 0)


@pytest.mark.parametrize("field,value", [("name", ""), ("phone", "call me"), ("line1", ""), ("name", "x" * 200)])
def test_bad_address_shows_field_error_and_writes_nothing(app, web, field, value):
    sku = make_product(stock=5).skus[0]
    sign_in(web, buyer_with_cart(app, (sku, 1)))
    response = web.post("/checkout/", data=checkout_form(**{field: value}))
    assert response.status_code == 422
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert counts() == (0, 0)
    assert db.session.get(Sku, sku.id).stock == 5


def test_unknown_delivery_code_is_refused(app, web):
    sku = make_product(stock=5).skus[0]
    sign_in(web, buyer_with_cart(app, (sku, 1)))
    response = web.post("/checkout/", data=checkout_form(delivery_code="teleport"))
    assert response.status_code == 422
    assert counts() == (0, 0)


def test_tampered_fields_are_ignored(app, web):
    sku = make_product(price=9900, stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 1))
    other = make_user()
    sign_in(web, user)
    form = checkout_form(price="1", total="1", unit_price="1", status="paid", user_id=str(other.id),
                         subtotal="0", amount="1", shipping_total="0", discount="9999")
    assert web.post("/checkout/", data=form).status_code == 302
    fresh()
    order = db.session.execute(db.select(Order)).scalar_one()
    assert (order.total, order.status, order.user_id) == (10900, OrderStatus.PENDING_PAYMENT, user.id)
    assert order.payment.amount == 10900 and order.lines[0].unit_price == 9900


def test_same_key_twice_gives_one_checkout(app, web):
    sku = make_product(stock=5).skus[0]
    sign_in(web, buyer_with_cart(app, (sku, 1)))
    form = checkout_form()
    first = web.post("/checkout/", data=form)
    second = web.post("/checkout/", data=form)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert counts() == (1, 1)
    assert db.session.get(Sku, sku.id).stock == 4


def test_same_key_concurrently_gives_one_checkout(app):
    sku = make_product(stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 1))
    key, results, errors = uuid.uuid4().hex, [], []
    barrier = threading.Barrier(2)
    # Read before the threads start: touching the (expired) test-session
    # object from two threads at once would share the test's session.
    user_class, user_id = type(user), user.id

    def submit():
        try:
            with app.app_context():
                buyer = db.session.get(user_class, user_id)
                # A thread that dies before the barrier must not hang the other one.
                barrier.wait(timeout=60)
                with app.test_request_context():
                    result = services.place_order(buyer, idempotency_key=key, delivery_code="courier",
                                                  address=dict(ADDRESS))
                    results.append(result.payment.reference)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    assert counts() == (1, 1)
    assert db.session.get(Sku, sku.id).stock == 4


def test_two_keys_for_one_cart_place_it_once(app):
    sku = make_product(stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 1))
    with app.test_request_context():
        services.place_order(user, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
        with pytest.raises(CheckoutBlocked):  # the cart is empty now
            services.place_order(user, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    assert counts() == (1, 1)


def test_key_of_another_buyer_is_a_conflict(app):
    sku = make_product(stock=5).skus[0]
    alice = buyer_with_cart(app, (sku, 1))
    bob = buyer_with_cart(app, (sku, 1))
    with app.test_request_context():
        services.place_order(alice, idempotency_key="shared-key-123", address=dict(ADDRESS))
        with pytest.raises(Conflict):
            services.place_order(bob, idempotency_key="shared-key-123", address=dict(ADDRESS))
        with pytest.raises(NotFound):
            services.place_order(bob, idempotency_key=uuid.uuid4().hex,
                                 address_id=db.session.execute(db.select(Order)).scalar_one().id + 999)
    assert counts() == (1, 1)


def test_stock_and_inactive_problems_block(app, web):
    product = make_product(name="Rare tea", stock=5)
    sku = product.skus[0]
    user = buyer_with_cart(app, (sku, 3))
    sku.stock = 2
    db.session.commit()
    sign_in(web, user)
    assert "Only 2 left" in web.get("/checkout/").get_data(as_text=True)
    response = web.post("/checkout/", data=checkout_form())
    assert response.status_code == 422 and "Only 2 left" in response.get_data(as_text=True)
    fresh()
    product.active = False
    db.session.commit()
    response = web.post("/checkout/", data=checkout_form())
    assert response.status_code == 422 and "No longer available" in response.get_data(as_text=True)
    assert counts() == (0, 0)
    assert db.session.get(Sku, sku.id).stock == 2


def test_validate_checkout_problem_is_shown_and_blocks(app, web):
    sku = make_product(stock=5).skus[0]
    sign_in(web, buyer_with_cart(app, (sku, 1)))
    with plugin(app, TenOff(problem="Coupon expired yesterday")):
        assert "Coupon expired yesterday" in web.get("/checkout/").get_data(as_text=True)
        response = web.post("/checkout/", data=checkout_form())
    assert response.status_code == 422 and "Coupon expired yesterday" in response.get_data(as_text=True)
    assert counts() == (0, 0)


def test_order_placing_hook_can_abort_everything(app, web):
    sku = make_product(stock=5).skus[0]
    sign_in(web, buyer_with_cart(app, (sku, 1)))

    class Refuse:
        @hookimpl
        def order_placing(self, order, checkout):
            assert order.id and order.lines and order.payment_id
            raise Conflict("Pickup slot is full", code="slot_full")

    with plugin(app, Refuse()):
        response = web.post("/checkout/", data=checkout_form())
    assert response.status_code == 409 and "Pickup slot is full" in response.get_data(as_text=True)
    assert counts() == (0, 0)
    assert db.session.get(Sku, sku.id).stock == 5


def test_breakdown_identical_everywhere(app, web):
    p1 = make_product(name="Mug", price=3333, stock=9).skus[0]
    p2 = make_product(name="Pot", price=6667, stock=9).skus[0]
    user = buyer_with_cart(app, (p1, 2), (p2, 1))
    headers = api_token(user)
    sign_in(web, user)
    with plugin(app, TenOff(amount=1001)):
        with app.test_request_context():
            expected = price_cart(cart_services.find_cart(user), user)
        assert expected.total == 2 * 3333 + 6667 - 1001 + 1000
        assert sum(line.discount for line in expected.lines) == 1001
        total_text = f"{expected.total // 100}.{expected.total % 100:02d}"
        assert total_text in web.get("/cart/").get_data(as_text=True)
        assert total_text in web.get("/checkout/").get_data(as_text=True)
        api_client = fresh_client(app)  # bearer only: the API ignores session cookies
        api = api_client.get("/api/v1/checkout", headers=headers).get_json()
        assert api["breakdown"] == expected.to_json()
        assert api["can_place"] is False  # no address yet
        placed = api_client.post("/api/v1/checkout", headers=headers,
                          json={**ADDRESS, "delivery_code": "courier", "idempotency_key": uuid.uuid4().hex})
        assert placed.status_code == 201, placed.get_json()
    fresh()
    order = db.session.execute(db.select(Order)).scalar_one()
    assert order_breakdown(order).to_json() == expected.to_json()
    assert placed.get_json()["payment"]["orders"][0]["breakdown"] == expected.to_json()
    assert sum(line.discount for line in order.lines) == 1001 == order.discount_total
    assert all(line.paid_amount == line.line_subtotal - line.discount for line in order.lines)
    allocation = order.adjustments[0].allocation
    assert sorted(allocation) == sorted(str(line.id) for line in order.lines)
    assert sum(allocation.values()) == 1001


def test_split_checkout_is_shown_then_placed_as_two_orders(app, web):
    normal = make_product(name="Kettle", price=5000, stock=5).skus[0]
    presale = make_product(name="Rice cooker", price=20000, stock=5).skus[0]
    user = buyer_with_cart(app, (normal, 1), (presale, 1))
    sign_in(web, user)
    with plugin(app, TenOff(amount=2500, presale_sku=presale.id)):
        page = web.get("/checkout/").get_data(as_text=True)
        assert "Your items will arrive in 2 orders" in page and "Ships by 1 December" in page
        response = web.post("/checkout/", data=checkout_form())
    assert response.status_code == 302
    fresh()
    payment = db.session.execute(db.select(Payment)).scalar_one()
    orders = payment.orders
    assert len(orders) == 2
    assert sum(o.total for o in orders) == payment.amount == 5000 + 20000 - 2500 + 1000
    assert [o.shipping_total for o in orders] == [1000, 0]  # shipping charged once
    assert sum(o.discount_total for o in orders) == 2500
    assert orders[1].lines[0].data["ship_promise"] == "Ships by 1 December"
    for order in orders:
        b = order_breakdown(order)
        assert b.total == b.subtotal + sum(a.amount for a in b.adjustments) + b.shipping


def test_unpaid_close_minutes_setting_sets_deadline(app):
    sku = make_product(stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 1))
    set_settings({"unpaid_close_minutes": 45})
    db.session.commit()
    with app.test_request_context():
        result = services.place_order(user, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    order = result.orders[0]
    assert round((order.pay_deadline - order.placed_at).total_seconds()) == 45 * 60
    fresh()
    assert db.session.execute(db.select(OrderEvent)).scalar_one().kind == "placed"


# API -------------------------------------------------------------------------------------


def test_api_checkout_place_and_idempotency(app, web):
    sku = make_product(price=1000, stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 2))
    headers = api_token(user)
    assert web.post("/api/v1/checkout", json={}).status_code == 401
    body = {**ADDRESS, "delivery_code": "courier", "total": 1, "price": 1, "status": "paid", "user_id": 1}
    response = web.post("/api/v1/checkout", json=body, headers={**headers, "Idempotency-Key": "api-key-0001"})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["created"] is True and data["payment"]["amount"]["amount"] == 3000
    assert data["payment"]["orders"][0]["status"] == "pending_payment"
    again = web.post("/api/v1/checkout", json=body, headers={**headers, "Idempotency-Key": "api-key-0001"})
    assert again.status_code == 200
    assert again.get_json()["payment"]["reference"] == data["payment"]["reference"]
    assert counts() == (1, 1)


def test_api_checkout_errors_have_stable_codes(app, web):
    sku = make_product(stock=5).skus[0]
    user = buyer_with_cart(app, (sku, 1))
    headers = api_token(user)
    response = web.post("/api/v1/checkout", json={**ADDRESS, "idempotency_key": "k"}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "validation_failed"
    response = web.post("/api/v1/checkout", json={"idempotency_key": uuid.uuid4().hex}, headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "checkout_blocked"
    assert [p["code"] for p in error["details"]["problems"]] == ["address_required"]
    response = web.post("/api/v1/checkout", json={"address_id": 123456, "idempotency_key": uuid.uuid4().hex},
                        headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = web.post("/api/v1/checkout", json={"address_id": "abc", "idempotency_key": uuid.uuid4().hex},
                        headers=headers)
    assert response.status_code == 422
    assert counts() == (0, 0)


def test_api_preview_shows_split_groups(app, web):
    a = make_product(stock=5).skus[0]
    b = make_product(stock=5).skus[0]
    user = buyer_with_cart(app, (a, 1), (b, 1))
    make_address(user)
    headers = api_token(user)
    with plugin(app, TenOff(presale_sku=b.id)):
        data = web.get("/api/v1/checkout", headers=headers).get_json()
    assert [g["key"] for g in data["groups"]] == ["main", "presale"]
    assert sum(g["breakdown"]["total"]["amount"] for g in data["groups"]) == data["breakdown"]["total"]["amount"]
    assert data["delivery_options"][0]["code"] == "courier"


def test_stock_gone_between_preview_and_write_rolls_everything_back(app, web):
    first = make_product(name="Plenty", stock=5).skus[0]
    last = make_product(name="Last lamp", stock=1).skus[0]
    user = buyer_with_cart(app, (first, 1), (last, 1))
    sign_in(web, user)

    class SnatchLastLamp:
        """Another buyer takes the lamp after the checkout was validated, before it writes."""

        @hookimpl
        def validate_checkout(self, checkout):
            db.session.execute(db.update(Sku).where(Sku.id == last.id).values(stock=0))
            return []

    with plugin(app, SnatchLastLamp()):
        response = web.post("/checkout/", data=checkout_form())
    assert response.status_code == 409
    assert "Sold out: Last lamp" in response.get_data(as_text=True)
    assert counts() == (0, 0)
    assert db.session.get(Sku, first.id).stock == 5  # the first line's decrement was rolled back
    assert {line.sku_id for line in cart_services.find_cart(user).lines} == {first.id, last.id}


class Express:
    """A delivery plugin whose option comes before the courier's (plugin order)."""

    def __init__(self):
        self.asked = []

    @hookimpl
    def delivery_options(self, cart, address, buyer, wanted):
        self.asked.append(wanted)
        if wanted not in (None, PRESELECTED, "express"):
            return None  # another option chosen: as the hookspec allows
        return [DeliveryOption(code="express", label="Express", fee=2500, source="express")]


def test_cart_is_priced_with_the_option_a_buyer_without_a_choice_gets(app, web):
    """The cart page asks the plugins only for the preselected option (``PRESELECTED``); one
    that comes first is still preselected, as the checkout page preselects it."""
    user = buyer_with_cart(app, (make_product(price=5000).skus[0], 1))
    sign_in(web, user)
    with plugin(app, Express()) as express:
        with app.test_request_context():
            cart = cart_services.find_cart(user)
            breakdown = price_cart(cart, user)
            assert (breakdown.delivery_code, breakdown.shipping) == ("express", 2500)
            assert express.asked == [PRESELECTED]
            assert price_cart(cart, user, delivery_code="courier").delivery_code == "courier"
            assert express.asked[-1] == "courier"
        assert "Delivery: Express" in web.get("/cart/").get_data(as_text=True)
        page = web.get("/checkout/").get_data(as_text=True)
        assert 'value="express" checked' in page and 'value="courier" checked' not in page

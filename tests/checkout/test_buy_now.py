"""Buy now (立即购买): ``POST /api/v1/checkout/buy-now`` places one SKU as its own checkout.

The transient cart is never stored: a placed buy-now writes the payment and the order
(and what the plugins reserve), a refused one writes nothing, and the buyer's own cart
keeps its lines, quantities and data either way. Runs on SQLite and on PostgreSQL
(``STOREFRONT_TEST_DATABASE_URL``), like the rest of the suite.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

import plugins.coupons.models  # noqa: F401  (tables in the metadata before the schema is created)
import plugins.presale.models  # noqa: F401
from plugins.coupons.models import BuyerCount as CouponBuyerCount
from plugins.coupons.models import Coupon, CouponUse, WalletCoupon
from plugins.presale.models import Quota, Reservation
from storefront.accounts.models import ApiToken, User
from storefront.cart.models import Cart, CartLine
from storefront.catalog.models import Sku
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.models import Order, OrderAdjustment, OrderEvent, OrderLine
from storefront.orders.status import OrderStatus
from storefront.payments.models import Payment, PaymentStatus
from storefront.settings import get_setting

from ..conftest import make_app_keeping_limits, make_test_app, new_client, pushed_app, rate_limits_on
from ..factories import make_product, make_user, set_plugin_state, sign_in
from ..races import run_threads
from .helpers import ADDRESS, api_token, fresh, make_address

URL = "/api/v1/checkout/buy-now"
PLUGINS = ["plugins.coupons", "plugins.presale"]
MISSING = object()


# --- apps with the coupons and presale plugins installed ---------------------------------------


@pytest.fixture(scope="session")
def _bn_plugin_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS)


@pytest.fixture(scope="session")
def _bn_limited_app(_app, database_url, instance_dir):
    return make_app_keeping_limits(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, RATELIMIT_ENABLED=True)


@pytest.fixture
def papp(app, _bn_plugin_app):
    """The shop with the coupons and presale plugins installed (enable them per test)."""
    with pushed_app(_bn_plugin_app):
        yield _bn_plugin_app


@pytest.fixture
def pweb(papp):
    return new_client(papp)


@pytest.fixture
def limited_web(papp, _bn_limited_app):
    """A client of the plugin shop with rate limits on (as in tests/plugins/coupons/conftest.py)."""
    with rate_limits_on():
        yield new_client(_bn_limited_app)


# --- helpers -------------------------------------------------------------------------------------


def buy_body(sku_id=MISSING, *, key=MISSING, **fields) -> dict:
    body = {**ADDRESS, "delivery_code": "courier"}
    if key is not MISSING:
        if key is not None:
            body["idempotency_key"] = key
    else:
        body["idempotency_key"] = uuid.uuid4().hex
    if sku_id is not MISSING:
        body["sku_id"] = sku_id
    body.update(fields)
    return body


def buy(client, headers, sku_id=MISSING, **fields):
    return client.post(URL, json=buy_body(sku_id, **fields), headers=headers)


def error_of(response) -> dict:
    data = response.get_json(silent=True) or {}
    return data.get("error") or {}


def buyer_and_token(**kwargs):
    user = make_user(**kwargs)
    return user, api_token(user)


def stored_cart(user, *items, data=None) -> int:
    """The buyer's stored cart holding ``items`` ((sku, quantity) pairs) and ``data``."""
    cart = Cart(user_id=user.id, data=dict(data or {}),
                lines=[CartLine(sku_id=sku.id, quantity=quantity) for sku, quantity in items])
    db.session.add(cart)
    db.session.commit()
    return cart.id


def cart_state(user_id: int):
    """Everything of the buyer's stored cart: id, lines with quantities, data, last change."""
    fresh()
    cart = db.session.execute(select(Cart).where(Cart.user_id == user_id)).scalar_one()
    return (cart.id, [(line.id, line.sku_id, line.quantity) for line in cart.lines], cart.data, cart.updated_at)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def written() -> dict:
    """Row counts of everything a checkout (or a stray transient cart) could write."""
    fresh()
    return {model.__tablename__: count(model)
            for model in (Payment, Order, OrderLine, OrderEvent, OrderAdjustment, Cart, CartLine)}


NOTHING = {"payments": 0, "orders": 0, "order_lines": 0, "order_events": 0, "order_adjustments": 0}


def stock_of(sku_id: int) -> int:
    fresh()
    return db.session.get(Sku, sku_id).stock


def the_order() -> Order:
    fresh()
    return db.session.execute(select(Order)).scalar_one()


# --- placing -------------------------------------------------------------------------------------


def test_buy_now_places_one_order_and_leaves_the_cart_alone(app, web):
    item = make_product(name="Flash kettle", price=2500, stock=5).skus[0]
    other = make_product(name="Mug", price=900, stock=7).skus[0]
    user, headers = buyer_and_token()
    stored_cart(user, (other, 2), (item, 1), data={"delivery_code": "courier", "memo": "keep me"})
    before_cart = cart_state(user.id)

    response = buy(web, headers, item.id, quantity=2, note="Ring twice", total=1, price=1, status="paid",
                   user_id=user.id + 1)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["created"] is True
    payment_json = data["payment"]
    assert payment_json["amount"]["amount"] == 2 * 2500 + 1000
    assert payment_json["status"] == "pending" and len(payment_json["orders"]) == 1
    assert payment_json["orders"][0]["status"] == "pending_payment"

    assert {k: v for k, v in written().items() if k in NOTHING} == {
        "payments": 1, "orders": 1, "order_lines": 1, "order_events": 1, "order_adjustments": 0}
    payment = db.session.execute(select(Payment)).scalar_one()
    order = db.session.execute(select(Order)).scalar_one()
    assert payment.reference == payment_json["reference"] and payment.user_id == user.id
    assert payment.amount == 6000 and payment.status == PaymentStatus.PENDING
    assert (order.user_id, order.payment_id, order.status) == (user.id, payment.id, OrderStatus.PENDING_PAYMENT)
    assert (order.subtotal, order.shipping_total, order.discount_total, order.total) == (5000, 1000, 0, 6000)
    assert order.ship_name == ADDRESS["name"] and "Keji Road" in order.ship_address
    assert order.buyer_note == "Ring twice" and order.delivery_code == "courier"
    [line] = order.lines
    assert (line.sku_id, line.quantity, line.unit_price, line.line_subtotal, line.paid_amount) == \
        (item.id, 2, 2500, 5000, 5000)
    assert line.product_name == "Flash kettle"
    assert [e.kind for e in order.events] == ["placed"]
    assert stock_of(item.id) == 3 and stock_of(other.id) == 7
    # The stored cart: same rows, same quantities, same data, not even touched.
    assert cart_state(user.id) == before_cart
    assert count(Cart) == 1

    paid = web.post(f"/api/v1/payments/{payment.reference}/pay-test", headers=headers)
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["status"] == "paid"
    assert paid.get_json()["orders"][0]["status"] == "paid"
    fresh()
    assert db.session.get(Payment, payment.id).status == PaymentStatus.PAID
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    assert web.get(f"/api/v1/payments/{payment.reference}", headers=headers).get_json()["status"] == "paid"
    assert cart_state(user.id) == before_cart
    assert stock_of(item.id) == 3


def test_defaults_header_key_saved_address_and_no_cart_created(app, web):
    item = make_product(price=3000, stock=4).skus[0]
    user, headers = buyer_and_token()
    mine = make_address(user, name="Han Meimei")
    key = uuid.uuid4().hex
    response = web.post(URL, json={"sku_id": item.id, "address_id": mine.id, "delivery_code": "courier"},
                        headers={**headers, "Idempotency-Key": key})
    assert response.status_code == 201, response.get_json()
    order = the_order()
    assert order.lines[0].quantity == 1 and order.ship_name == "Han Meimei"
    assert order.payment.idempotency_key == key
    assert stock_of(item.id) == 3
    # A buyer without a cart still has none: the transient cart was never stored.
    assert written()["carts"] == 0 and written()["cart_lines"] == 0


# --- idempotency ---------------------------------------------------------------------------------


def test_same_key_twice_is_one_checkout(app, web):
    item = make_product(stock=5).skus[0]
    user, headers = buyer_and_token()
    body = buy_body(item.id, quantity=2)
    first = web.post(URL, json=body, headers=headers)
    second = web.post(URL, json=body, headers=headers)
    assert first.status_code == 201 and first.get_json()["created"] is True
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["created"] is False
    assert second.get_json()["payment"]["reference"] == first.get_json()["payment"]["reference"]
    counts = written()
    assert (counts["payments"], counts["orders"], counts["order_lines"]) == (1, 1, 1)
    assert stock_of(item.id) == 3


def test_same_key_with_another_sku_answers_the_first_checkout_and_takes_nothing(app, web):
    item = make_product(stock=5).skus[0]
    other = make_product(stock=5).skus[0]
    user, headers = buyer_and_token()
    key = uuid.uuid4().hex
    first = buy(web, headers, item.id, key=key)
    again = buy(web, headers, other.id, key=key, quantity=3)
    assert first.status_code == 201 and again.status_code == 200, again.get_json()
    assert again.get_json()["payment"]["reference"] == first.get_json()["payment"]["reference"]
    assert written()["orders"] == 1
    assert stock_of(item.id) == 4 and stock_of(other.id) == 5  # the second one's decrement rolled back


def test_same_key_after_the_item_sold_out_is_still_the_first_checkout(app, web):
    item = make_product(name="Last lamp", stock=1).skus[0]
    user, headers = buyer_and_token()
    key = uuid.uuid4().hex
    first = buy(web, headers, item.id, key=key)
    assert first.status_code == 201
    assert stock_of(item.id) == 0
    again = buy(web, headers, item.id, key=key)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["created"] is False
    assert again.get_json()["payment"]["reference"] == first.get_json()["payment"]["reference"]
    fresh_key = buy(web, headers, item.id)
    assert fresh_key.status_code == 409 and error_of(fresh_key)["code"] == "out_of_stock"
    assert written()["orders"] == 1 and stock_of(item.id) == 0


def test_key_of_another_buyer_is_a_conflict(app, web):
    item = make_product(stock=5).skus[0]
    _alice, alice = buyer_and_token()
    _bob, bob = buyer_and_token()
    key = "shared-buy-now-key-1"
    assert buy(web, alice, item.id, key=key).status_code == 201
    response = buy(web, bob, item.id, key=key)
    assert response.status_code == 409 and error_of(response)["code"] == "idempotency_conflict"
    # Even when Bob's buy-now could not be placed anyway (a refusal looks the key up too).
    response = buy(web, bob, item.id, key=key, quantity=50)
    assert response.status_code == 409 and error_of(response)["code"] == "idempotency_conflict"
    assert written()["orders"] == 1 and stock_of(item.id) == 4
    assert the_order().user_id == _alice.id


# --- bad inputs ----------------------------------------------------------------------------------

BAD_BODIES = [
    # (label, body fields over a good body (MISSING drops sku_id), status, error code, error field)
    ("no sku_id", {"sku_id": MISSING}, 422, "validation_failed", None),
    ("sku_id string", {"sku_id": "SKU"}, 422, "validation_failed", None),
    ("sku_id numeric string", {"sku_id": "{sku}"}, 422, "validation_failed", None),
    ("sku_id bool", {"sku_id": True}, 422, "validation_failed", None),
    ("sku_id null", {"sku_id": None}, 422, "validation_failed", None),
    ("sku_id float", {"sku_id": 1.5}, 422, "validation_failed", None),
    ("sku_id zero", {"sku_id": 0}, 422, "validation_failed", "sku_id"),
    ("sku_id negative", {"sku_id": -3}, 422, "validation_failed", "sku_id"),
    # Beyond BIGINT no SKU can have that id: "not found", or refused as a bad id (never a 500).
    ("sku_id 2**63", {"sku_id": 2**63}, (404, 422), ("not_found", "validation_failed"), "sku_id"),
    ("sku_id 2**70", {"sku_id": 2**70}, (404, 422), ("not_found", "validation_failed"), "sku_id"),
    ("unknown sku_id", {"sku_id": 987654}, 404, "not_found", "sku_id"),
    ("quantity zero", {"quantity": 0}, 422, "validation_failed", "quantity"),
    ("quantity negative", {"quantity": -1}, 422, "validation_failed", "quantity"),
    ("quantity over line limit", {"quantity": "{limit+1}"}, 422, "validation_failed", "quantity"),
    ("quantity huge", {"quantity": 2**70}, 422, "validation_failed", "quantity"),
    ("quantity string", {"quantity": "2"}, 422, "validation_failed", None),
    ("quantity bool", {"quantity": True}, 422, "validation_failed", None),
    ("quantity above stock", {"quantity": 6}, 409, "out_of_stock", "quantity"),
    ("no idempotency key", {"idempotency_key": MISSING}, 422, "validation_failed", "idempotency_key"),
    ("short idempotency key", {"idempotency_key": "k"}, 422, "validation_failed", "idempotency_key"),
    ("idempotency key with spaces", {"idempotency_key": "not a good key!"}, 422, "validation_failed",
     "idempotency_key"),
    ("idempotency key not a string", {"idempotency_key": 12345678901}, 422, "validation_failed", None),
    ("unknown delivery_code", {"delivery_code": "teleport"}, 422, "validation_failed", "delivery_code"),
    ("address_id string", {"address_id": "abc"}, 422, "validation_failed", None),
    ("unknown address_id", {"address_id": 987654}, 404, "not_found", None),
    ("no address", {f: MISSING for f in ADDRESS}, 422, "checkout_blocked", None),
    ("bad phone", {"phone": "call me"}, 422, "validation_failed", "phone"),
    ("name too long", {"name": "x" * 200}, 422, "validation_failed", "name"),
    ("note too long", {"note": "x" * 501}, 422, "validation_failed", "note"),
    ("extra not an object", {"extra": "coupons_code=X"}, 422, "validation_failed", None),
]


@pytest.mark.parametrize("label,fields,status,code,field", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_has_a_stable_error_and_writes_nothing(app, web, label, fields, status, code, field):
    item = make_product(stock=5).skus[0]
    other = make_product(stock=5).skus[0]
    user, headers = buyer_and_token()
    stored_cart(user, (item, 1), (other, 3), data={"memo": "x"})
    before_cart, before = cart_state(user.id), written()
    limit = int(get_setting("max_line_quantity"))
    body = buy_body(item.id)
    for name, value in fields.items():
        if value is MISSING:
            body.pop(name, None)
        elif value == "{sku}":
            body[name] = str(item.id)
        elif value == "{limit+1}":
            body[name] = limit + 1
        else:
            body[name] = value
    response = web.post(URL, json=body, headers=headers)
    statuses = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) else (code,)
    assert response.status_code in statuses, (label, response.status_code, response.get_data(as_text=True)[:500])
    error = error_of(response)
    assert error.get("code") == codes[statuses.index(response.status_code)], (label, error)
    if field is not None:
        assert error.get("field") == field, (label, error)
    if code == "checkout_blocked":
        assert error["details"]["problems"], error
    assert written() == before
    assert stock_of(item.id) == 5 and stock_of(other.id) == 5
    assert cart_state(user.id) == before_cart


def test_body_that_is_not_json_object_is_refused(app, web):
    item = make_product(stock=5).skus[0]
    _user, headers = buyer_and_token()
    for payload in ([item.id], "sku", 7):
        response = web.post(URL, json=payload, headers=headers)
        assert response.status_code == 422, (payload, response.get_data(as_text=True)[:300])
    response = web.post(URL, data="sku_id=1", headers={**headers, "Content-Type": "text/plain"})
    assert 400 <= response.status_code < 500
    assert written() == {**NOTHING, "carts": 0, "cart_lines": 0}
    assert stock_of(item.id) == 5


def test_inactive_product_and_sku_are_unavailable(app, web):
    off_product = make_product(name="Retired tee", stock=5, active=False).skus[0]
    off_sku = make_product(name="Old colour", stock=5).skus[0]
    off_sku.active = False
    db.session.commit()
    _user, headers = buyer_and_token()
    for sku_id in (off_product.id, off_sku.id):
        response = buy(web, headers, sku_id)
        assert response.status_code == 422, response.get_json()
        assert error_of(response)["code"] == "unavailable" and error_of(response)["field"] == "sku_id"
    assert written() == {**NOTHING, "carts": 0, "cart_lines": 0}
    assert stock_of(off_product.id) == 5 and stock_of(off_sku.id) == 5


def test_sold_out_and_too_many(app, web):
    gone = make_product(name="Gone", stock=0).skus[0]
    few = make_product(name="Few", stock=2).skus[0]
    _user, headers = buyer_and_token()
    response = buy(web, headers, gone.id)
    assert response.status_code == 409 and error_of(response)["code"] == "out_of_stock"
    response = buy(web, headers, few.id, quantity=3)
    assert response.status_code == 409 and error_of(response)["code"] == "out_of_stock"
    assert error_of(response)["details"]["available"] == 2
    assert written() == {**NOTHING, "carts": 0, "cart_lines": 0}
    assert stock_of(few.id) == 2 and stock_of(gone.id) == 0


def test_another_buyers_address_is_not_found(app, web):
    item = make_product(stock=5).skus[0]
    _user, headers = buyer_and_token()
    theirs = make_address(make_user(), name="Stranger")
    response = buy(web, headers, item.id, address_id=theirs.id)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert written() == {**NOTHING, "carts": 0, "cart_lines": 0}
    assert stock_of(item.id) == 5


# --- permissions ---------------------------------------------------------------------------------


def test_needs_a_valid_bearer_token(app, web):
    item = make_product(stock=5).skus[0]
    user, headers = buyer_and_token()
    assert buy(web, {}, item.id).status_code == 401
    assert buy(web, {"Authorization": "Bearer " + secrets.token_urlsafe(24)}, item.id).status_code == 401
    assert buy(web, {"Authorization": "Basic Zm9vOmJhcg=="}, item.id).status_code == 401
    assert buy(web, {"Authorization": "Bearer"}, item.id).status_code == 401
    # A revoked token, and an expired one.
    raw = secrets.token_urlsafe(24)
    db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(raw.encode()).hexdigest(), revoked=True))
    expired = secrets.token_urlsafe(24)
    db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(expired.encode()).hexdigest(),
                            expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    for token in (raw, expired):
        response = buy(web, {"Authorization": f"Bearer {token}"}, item.id)
        assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
    # A signed-in session is not a token.
    sign_in(web, user)
    assert buy(web, {}, item.id).status_code == 401
    assert written() == {**NOTHING, "carts": 0, "cart_lines": 0}
    assert stock_of(item.id) == 5
    # The real token still works (from a client without that session cookie).
    assert buy(new_client(app), headers, item.id).status_code == 201


# --- coupons -------------------------------------------------------------------------------------


def make_coupon(**data) -> Coupon:
    from plugins.coupons import admin_services

    values = {"name": "Ten off", "kind": "fixed", "amount": 1000, "per_buyer_limit": None}
    values.update(data)
    coupon = admin_services.create_coupon(values)
    db.session.commit()
    return coupon


def coupon_rows() -> dict:
    fresh()
    return {"uses": count(CouponUse), "used": db.session.scalar(select(func.coalesce(func.sum(Coupon.used), 0))),
            "buyer_used": db.session.scalar(select(func.coalesce(func.sum(CouponBuyerCount.used), 0))),
            "wallet_used": db.session.scalar(select(func.count()).select_from(WalletCoupon)
                                             .where(WalletCoupon.used_at.is_not(None)))}


@pytest.fixture
def coupons_on(papp):
    set_plugin_state("coupons", True)
    return True


def test_typed_code_applies_and_the_carts_choice_is_kept(papp, coupons_on, pweb):
    cart_coupon = make_coupon(name="Cart five", code="CARTFIVE", amount=500)
    make_coupon(name="Ten off", code="TENOFF", amount=1000)
    item = make_product(name="Rice cooker", price=5000, stock=5).skus[0]
    other = make_product(name="Chopsticks", price=800, stock=5).skus[0]
    user, headers = buyer_and_token()
    choice = {"coupon_id": cart_coupon.id, "code_id": None, "wallet_id": None, "code": "CARTFIVE"}
    stored_cart(user, (other, 1), (item, 2), data={"coupons": choice, "memo": "keep"})
    before_cart = cart_state(user.id)

    response = buy(pweb, headers, item.id, extra={"coupons_code": " tenoff "})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["payment"]["amount"]["amount"] == 5000 - 1000 + 1000
    order = the_order()
    assert (order.subtotal, order.discount_total, order.total) == (5000, 1000, 5000)
    [adjustment] = order.adjustments
    assert adjustment.source == "coupons" and adjustment.amount == -1000
    assert order.lines[0].discount == 1000 and order.lines[0].paid_amount == 4000
    use = db.session.execute(select(CouponUse)).scalar_one()
    ten = db.session.execute(select(Coupon).where(Coupon.code == "TENOFF")).scalar_one()
    assert (use.coupon_id, use.user_id, use.order_id, use.payment_id, use.discount, use.status) == \
        (ten.id, user.id, order.id, order.payment_id, 1000, "used")
    assert ten.used == 1 and db.session.get(Coupon, cart_coupon.id).used == 0
    # The stored cart keeps its own coupon choice (and everything else).
    assert cart_state(user.id) == before_cart
    assert cart_state(user.id)[2]["coupons"] == choice
    assert stock_of(item.id) == 4


def test_unknown_code_is_refused_and_writes_nothing(papp, coupons_on, pweb):
    make_coupon(code="TENOFF")
    item = make_product(price=5000, stock=5).skus[0]
    user, headers = buyer_and_token()
    stored_cart(user, (item, 1), data={"memo": "keep"})
    before_cart, before, before_coupons = cart_state(user.id), written(), coupon_rows()
    for code in ("NOPE123", "!!"):
        response = buy(pweb, headers, item.id, extra={"coupons_code": code})
        assert response.status_code == 422, response.get_json()
        assert error_of(response)["field"] == "coupons_code", error_of(response)
    assert error_of(buy(pweb, headers, item.id, extra={"coupons_code": "NOPE123"}))["code"] == "coupon_code_unknown"
    assert written() == before and coupon_rows() == before_coupons
    assert stock_of(item.id) == 5 and cart_state(user.id) == before_cart


@pytest.mark.parametrize("state", ["run_out", "not_yet", "expired", "paused", "used_up_by_buyer"])
def test_unusable_code_is_refused(papp, coupons_on, pweb, state):
    coupon = make_coupon(code="LIMITED", per_buyer_limit=1 if state == "used_up_by_buyer" else None)
    item = make_product(price=5000, stock=5).skus[0]
    user, headers = buyer_and_token()
    if state == "used_up_by_buyer":
        assert buy(pweb, headers, item.id, extra={"coupons_code": "LIMITED"}).status_code == 201
    row = db.session.get(Coupon, coupon.id)
    if state == "run_out":
        row.total_quantity, row.used = 5, 5
    elif state == "not_yet":
        row.starts_at = utcnow() + timedelta(days=1)
    elif state == "expired":
        row.ends_at = utcnow() - timedelta(minutes=1)
    elif state == "paused":
        row.active = False
    db.session.commit()
    before, before_coupons, stock = written(), coupon_rows(), stock_of(item.id)
    response = buy(pweb, headers, item.id, extra={"coupons_code": "limited"})
    assert response.status_code == 422, response.get_json()
    assert error_of(response)["code"] == "coupon_unusable" and error_of(response)["field"] == "coupons_code"
    assert written() == before and coupon_rows() == before_coupons and stock_of(item.id) == stock


def test_code_whose_min_spend_is_not_reached_blocks_the_checkout(papp, coupons_on, pweb):
    make_coupon(code="BIGSPEND", min_spend=10000)
    item = make_product(price=5000, stock=5).skus[0]
    user, headers = buyer_and_token()
    response = buy(pweb, headers, item.id, extra={"coupons_code": "BIGSPEND"})
    assert response.status_code == 422, response.get_json()
    error = error_of(response)
    assert error["code"] == "checkout_blocked"
    problems = error["details"]["problems"]
    assert problems and all(p["source"] == "coupons" for p in problems), problems
    assert any(p["field"] == "coupons_code" for p in problems)
    assert written() == {**NOTHING, "carts": 0, "cart_lines": 0}
    assert coupon_rows()["uses"] == 0 and stock_of(item.id) == 5
    # Two of them reach it.
    assert buy(pweb, headers, item.id, quantity=2, extra={"coupons_code": "BIGSPEND"}).status_code == 201
    assert the_order().discount_total == 1000


def claim_into_wallet(user, coupon) -> int:
    from plugins.coupons.services import claim

    row = claim(user, coupon.id)
    db.session.commit()
    return row.id


def test_wallet_best_coupon_applies_without_a_code(papp, coupons_on, pweb):
    small = make_coupon(name="Small", claimable=True, amount=500)
    big = make_coupon(name="Big", claimable=True, amount=1500)
    item = make_product(price=5000, stock=5).skus[0]
    other = make_product(price=700, stock=5).skus[0]
    user, headers = buyer_and_token()
    wallet = {c.id: claim_into_wallet(user, c) for c in (small, big)}
    stored_cart(user, (other, 1), (item, 1), data={"memo": "keep"})
    before_cart = cart_state(user.id)
    response = buy(pweb, headers, item.id)
    assert response.status_code == 201, response.get_json()
    order = the_order()
    assert order.discount_total == 1500 and order.total == 5000 - 1500 + 1000
    assert [a.source for a in order.adjustments] == ["coupons"]
    use = db.session.execute(select(CouponUse)).scalar_one()
    assert (use.coupon_id, use.wallet_id, use.order_id) == (big.id, wallet[big.id], order.id)
    assert db.session.get(WalletCoupon, wallet[big.id]).used_at is not None
    assert db.session.get(WalletCoupon, wallet[small.id]).used_at is None
    assert cart_state(user.id) == before_cart


def test_coupons_none_means_no_coupon_even_with_a_wallet(papp, coupons_on, pweb):
    coupon = make_coupon(name="Big", claimable=True, amount=1500)
    item = make_product(price=5000, stock=5).skus[0]
    user, headers = buyer_and_token()
    wallet_id = claim_into_wallet(user, coupon)
    response = buy(pweb, headers, item.id, extra={"coupons_none": "1"})
    assert response.status_code == 201, response.get_json()
    order = the_order()
    assert (order.discount_total, order.total) == (0, 6000) and order.adjustments == []
    assert coupon_rows()["uses"] == 0
    assert db.session.get(WalletCoupon, wallet_id).used_at is None
    assert db.session.get(Coupon, coupon.id).used == 0
    assert written()["carts"] == 0


def test_coupon_codes_typed_through_buy_now_are_rate_limited(papp, coupons_on, limited_web):
    set_plugin_state("coupons", True, {"code_attempts_per_minute": 3})
    item = make_product(price=5000, stock=5).skus[0]
    user, headers = buyer_and_token()
    stored_cart(user, (item, 1))
    before_cart = cart_state(user.id)
    statuses = [buy(limited_web, headers, item.id, extra={"coupons_code": f"GUESS{i}"}) for i in range(5)]
    assert [r.status_code for r in statuses] == [422, 422, 422, 429, 429], \
        [(r.status_code, r.get_data(as_text=True)[:200]) for r in statuses]
    assert error_of(statuses[-1])["code"] == "rate_limited"
    assert error_of(statuses[-1])["field"] == "coupons_code" and statuses[-1].headers["Retry-After"]
    assert written()["orders"] == 0 and stock_of(item.id) == 5 and cart_state(user.id) == before_cart
    # The limit is the buyer's: another buyer may still type a code ...
    _other, other_headers = buyer_and_token()
    assert buy(limited_web, other_headers, item.id, extra={"coupons_code": "GUESS9"}).status_code == 422
    # ... and the limited buyer can still buy without typing one.
    assert buy(limited_web, headers, item.id).status_code == 201
    assert buy(limited_web, headers, item.id, extra={"coupons_none": "1"}).status_code == 201
    assert written()["orders"] == 2 and stock_of(item.id) == 3


def test_code_attempts_are_one_count_across_the_api_and_buy_now(papp, coupons_on, limited_web):
    set_plugin_state("coupons", True, {"code_attempts_per_minute": 3})
    item = make_product(price=5000, stock=5).skus[0]
    user, headers = buyer_and_token()
    stored_cart(user, (item, 1))
    applied = [limited_web.post("/api/v1/coupons/apply", json={"code": f"GUESS{i}"}, headers=headers)
               for i in range(2)]
    assert [r.status_code for r in applied] == [422, 422]
    # The third guess is the last one this minute, wherever it is typed.
    assert buy(limited_web, headers, item.id, extra={"coupons_code": "GUESS2"}).status_code == 422
    assert buy(limited_web, headers, item.id, extra={"coupons_code": "GUESS3"}).status_code == 429
    assert limited_web.post("/api/v1/coupons/apply", json={"code": "GUESS4"}, headers=headers).status_code == 429


# --- presale -------------------------------------------------------------------------------------


def presale_item(quota: int, stock: int = 0):
    from plugins.presale import campaigns

    set_plugin_state("presale", True)
    product = make_product(name="Presale jacket", price=10000, stock=stock)
    now = utcnow()
    campaigns.create_campaign({
        "product_id": product.id, "mode": "full", "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=7), "promise_kind": "date",
        "ship_by_date": date.today() + timedelta(days=30), "ship_within_days": None, "price": None,
        "per_buyer_limit": None, "quotas": {product.skus[0].id: quota}}, None)
    db.session.commit()
    return product.skus[0]


def quota_sold(sku_id: int) -> int:
    fresh()
    return db.session.execute(select(Quota.sold).where(Quota.sku_id == sku_id)).scalar_one()


def test_presale_buy_now_takes_the_quota_not_the_stock(papp, pweb):
    sku = presale_item(quota=5, stock=2)
    user, headers = buyer_and_token()
    stored_cart(user, (sku, 1), data={"memo": "keep"})
    before_cart = cart_state(user.id)
    response = buy(pweb, headers, sku.id, quantity=2)
    assert response.status_code == 201, response.get_json()
    assert quota_sold(sku.id) == 2 and stock_of(sku.id) == 2
    order = the_order()
    assert order.lines[0].quantity == 2 and order.lines[0].data.get("no_stock_release") is True
    assert count(Reservation) == 1
    assert cart_state(user.id) == before_cart
    too_many = buy(pweb, headers, sku.id, quantity=4)
    assert too_many.status_code == 409 and error_of(too_many)["code"] == "out_of_stock"
    assert quota_sold(sku.id) == 2 and written()["orders"] == 1


# --- races ---------------------------------------------------------------------------------------

RACERS = 8
UNITS = 3


def _racers(app) -> list[dict]:
    # Rows written directly: eight password hashes would only slow the test down.
    users = [User(email=f"buynow{i}@example.com", name=f"Racer {i}", password_hash="!", phone="13800000000")
             for i in range(RACERS)]
    db.session.add_all(users)
    db.session.commit()
    return [api_token(user) for user in users]


def _race(app, sku_id: int) -> list:
    tokens = _racers(app)
    clients = [new_client(app) for _ in range(RACERS)]
    bodies = [buy_body(sku_id) for _ in range(RACERS)]

    def work(i):
        response = clients[i].post(URL, json=bodies[i], headers=tokens[i])
        return response.status_code, response.get_data(as_text=True)

    return run_threads(app, RACERS, work)


def _check_race(outcomes) -> None:
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    statuses = sorted(status for status, _ in outcomes)
    assert statuses.count(201) == UNITS, statuses
    for status, body in outcomes:
        assert status < 500, body[:500]
        if status != 201:
            assert status in (409, 422), (status, body[:300])


def test_last_units_bought_at_once(app):
    sku_id = make_product(name="Flash sale phone", price=99900, stock=UNITS).skus[0].id
    _check_race(_race(app, sku_id))
    fresh()
    assert stock_of(sku_id) == 0
    assert count(Order) == UNITS and count(Payment) == UNITS
    assert db.session.scalar(select(func.sum(OrderLine.quantity))) == UNITS
    assert count(Cart) == 0 and count(CartLine) == 0


def test_last_presale_quota_bought_at_once(papp):
    sku_id = presale_item(quota=UNITS, stock=2).id
    _check_race(_race(papp, sku_id))
    assert quota_sold(sku_id) == UNITS and stock_of(sku_id) == 2
    assert count(Order) == UNITS and count(Reservation) == UNITS
    assert count(Cart) == 0


# --- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_documents_buy_now(app, web):
    document = web.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/checkout/buy-now"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert "sku_id" in schema["properties"] and "quantity" in schema["properties"]
    assert "sku_id" in schema.get("required", [])
    assert schema["properties"]["sku_id"]["type"] == "integer"
    assert {"201", "200", "401", "404", "409", "422", "429"} <= set(operation["responses"])

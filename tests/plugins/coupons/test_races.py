"""Usage limits through real checkouts (the checkout page, posted from parallel sessions).

The same races on the reservation function alone are in test_usage.py; these
go through the whole web checkout: form, pricing, validate_checkout,
order_placing, commit.
"""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from plugins.coupons.models import BuyerCount, Coupon, CouponUse
from storefront.extensions import db
from storefront.orders.models import Order
from tests.checkout.helpers import checkout_form, fresh
from tests.factories import make_product, make_user

from .conftest import fill_cart, make_coupon, new_client, sign_in


def race(clients, request):
    """Every client sends ``request(i, client)`` at the same moment; returns the status codes."""
    barrier = threading.Barrier(len(clients), timeout=120)
    statuses: list = [None] * len(clients)

    def work(i):
        try:
            barrier.wait()
            statuses[i] = request(i, clients[i]).status_code
        except Exception as exc:  # noqa: BLE001 - shown by the assertion
            statuses[i] = repr(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fresh()
    return statuses


def discounted_orders(coupon_id=None) -> int:
    return db.session.scalar(select(func.count()).select_from(Order).where(Order.discount_total > 0)) or 0


def test_one_buyer_parallel_sessions_get_one_discounted_order(app, enabled):
    coupon = make_coupon(code="ONCE", amount=1000, per_buyer_limit=1)
    buyer = make_user()
    sessions = [new_client(app) for _i in range(8)]
    for web in sessions:
        sign_in(web, buyer)
    fill_cart(app, buyer, (make_product(price=5000, stock=100).skus[0], 1))
    # Every session applies the code (all see it unused), then all submit at once.
    assert race(sessions, lambda i, web: web.post("/p/coupons/apply", data={"coupons_code": "once"})) == [303] * 8
    statuses = race(sessions, lambda i, web: web.post("/checkout/", data=checkout_form(coupons_code="ONCE")))
    assert statuses.count(302) == 1, statuses
    assert all(s in (302, 409, 422) for s in statuses), statuses
    assert discounted_orders() == 1
    assert db.session.scalar(select(func.count()).select_from(CouponUse)) == 1
    assert db.session.scalar(select(BuyerCount.used).where(BuyerCount.user_id == buyer.id)) == 1
    assert db.session.get(Coupon, coupon.id).used == 1

    # The buyer fills the cart again and races once more, code typed: the limit holds.
    fill_cart(app, buyer, (make_product(price=5000, stock=100).skus[0], 1))
    statuses = race(sessions, lambda i, web: web.post("/checkout/", data=checkout_form(coupons_code="ONCE")))
    assert 302 not in statuses and all(s in (409, 422) for s in statuses), statuses
    assert discounted_orders() == 1
    assert db.session.get(Coupon, coupon.id).used == 1


def test_one_buyer_parallel_sessions_each_adding_and_checking_out(app, enabled):
    """Sessions of one buyer each add their own item and check out at once: whatever orders
    result, only one of them carries the per-buyer-limit-1 coupon."""
    make_coupon(code="ONCE", amount=1000, per_buyer_limit=1)
    buyer = make_user()
    sessions = [new_client(app) for _i in range(6)]
    for web in sessions:
        sign_in(web, buyer)
    skus = [make_product(price=5000, stock=100).skus[0].id for _i in range(len(sessions))]
    fill_cart(app, buyer, (make_product(price=5000, stock=100).skus[0], 1))
    race(sessions, lambda i, web: web.post("/p/coupons/apply", data={"coupons_code": "ONCE"}))

    def add_then_checkout(i, web):
        web.post("/cart/add", data={"sku_id": skus[i], "quantity": 1})
        return web.post("/checkout/", data=checkout_form())

    statuses = race(sessions, add_then_checkout)
    assert all(s in (302, 409, 422) for s in statuses), statuses
    assert statuses.count(302) >= 1
    assert discounted_orders() == 1
    assert db.session.scalar(select(BuyerCount.used).where(BuyerCount.user_id == buyer.id)) == 1


def test_100_buyers_checkout_at_once_with_a_coupon_of_10_uses(app, enabled):
    coupon = make_coupon(code="TENONLY", amount=1000, total_quantity=10, per_buyer_limit=1)
    sku = make_product(price=5000, stock=1000).skus[0]
    sessions = []
    for _i in range(100):
        buyer = make_user()
        fill_cart(app, buyer, (sku, 1))
        web = new_client(app)
        sign_in(web, buyer)
        sessions.append(web)
    assert set(race(sessions, lambda i, web: web.post("/p/coupons/apply",
                                                      data={"coupons_code": "tenonly"}))) == {303}
    statuses = race(sessions, lambda i, web: web.post("/checkout/", data=checkout_form(coupons_code="TENONLY")))
    assert statuses.count(302) == 10, statuses
    assert all(s in (302, 409, 422) for s in statuses), statuses
    assert discounted_orders() == 10
    assert db.session.scalar(select(func.count()).select_from(Order)) == 10
    assert db.session.get(Coupon, coupon.id).used == 10
    assert db.session.scalar(select(func.count()).select_from(CouponUse)) == 10

"""Usage limits under real concurrency, giving coupons back exactly once, claiming with a quota."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, select

from plugins.coupons import admin_services, services
from plugins.coupons.models import BuyerCount, Coupon, CouponCode, CouponUse, WalletCoupon
from plugins.coupons.usage import give_back, give_back_for_event, reserve_use
from storefront.cart.services import find_cart
from storefront.checkout import services as checkout
from storefront.database import write_transaction
from storefront.errors import CheckoutBlocked, Conflict, ValidationFailed
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.services import close_order
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor
from storefront.plugins import CheckoutGroup, OrderEventInfo, hookimpl
from tests.checkout.helpers import ADDRESS, fresh, plugin
from tests.factories import make_product, make_user

from .conftest import fill_cart, make_coupon, set_state


def place(app, user, **kw):
    with app.test_request_context():
        return checkout.place_order(user, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS), **kw)


def run_threads(n, target):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def work(i):
        try:
            barrier.wait(timeout=120)
            results.append(target(i))
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_per_buyer_limit_on_the_reservation_itself(app, enabled):
    """The counter alone (through real checkouts: test_races.py)."""
    coupon = make_coupon(code="ONCE", per_buyer_limit=1)
    user = make_user()
    orders = []
    for _i in range(6):  # six real orders of one buyer to attach the racing uses to
        fill_cart(app, user, (make_product(price=5000).skus[0], 1))
        orders.append(place(app, user).orders[0])
    refs = [(o.id, o.payment_id) for o in orders]
    coupon_id, user_id = coupon.id, user.id  # never touch test-session objects from threads

    def reserve(i):
        with app.app_context():
            try:
                with write_transaction():
                    reserve_use(coupon_id=coupon_id, user_id=user_id, payment_id=refs[i][1], order_id=refs[i][0],
                                discount=1000)
                return True
            finally:
                db.session.remove()

    results, errors = run_threads(6, reserve)
    assert results == [True] and len(errors) == 5
    assert all(isinstance(e, CheckoutBlocked) for e in errors)
    fresh()
    assert db.session.scalar(select(BuyerCount.used).where(BuyerCount.user_id == user.id)) == 1


def test_per_buyer_limit_through_checkout(app, enabled, buyer):
    make_coupon(code="ONCE", per_buyer_limit=1)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    services.apply_code(buyer, find_cart(buyer), "once")
    assert place(app, buyer).orders[0].discount_total == 1000
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    fresh()
    with pytest.raises(ValidationFailed, match="already used"):
        services.apply_code(buyer, find_cart(buyer), "once")


def _placed_with_coupon(app, buyer, code="BACK", **coupon):
    coupon = make_coupon(code=code, per_buyer_limit=1, total_quantity=5, **coupon)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    services.apply_code(buyer, find_cart(buyer), code)
    return coupon, place(app, buyer).orders[0]


def test_closed_unpaid_order_gives_coupon_back_once(app, enabled, buyer):
    coupon, order = _placed_with_coupon(app, buyer)
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 1
    with app.test_request_context():
        close_order(db.session.get(Order, order.id), CancelReason.PAYMENT_TIMEOUT, Actor.system())
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 0
    use = db.session.execute(select(CouponUse)).scalar_one()
    assert use.status == "returned"
    assert give_back(use.id) is False  # a second return changes nothing
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 0
    # the buyer may use it again
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    services.apply_code(buyer, find_cart(buyer), "back")
    assert place(app, buyer).orders[0].discount_total == 1000


def test_concurrent_returns_happen_once(app, enabled, buyer):
    coupon, _order = _placed_with_coupon(app, buyer)
    use_id = db.session.execute(select(CouponUse.id)).scalar_one()

    def back(_i):
        with app.app_context():
            try:
                return give_back(use_id)
            finally:
                db.session.remove()

    results, errors = run_threads(5, back)
    assert errors == [] and sorted(results) == [False, False, False, False, True]
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 0


def test_wallet_coupon_returns_to_wallet(app, enabled, buyer):
    coupon = make_coupon(claimable=True, per_buyer_limit=1)
    row = services.claim(buyer, coupon.id)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    order = place(app, buyer).orders[0]  # best wallet coupon pre-selected
    assert order.discount_total == 1000
    fresh()
    assert db.session.get(WalletCoupon, row.id).used_at is not None
    with app.test_request_context():
        close_order(db.session.get(Order, order.id), CancelReason.PAYMENT_TIMEOUT, Actor.system())
    fresh()
    assert db.session.get(WalletCoupon, row.id).used_at is None


def test_no_return_when_setting_off_or_after_shipment(app, buyer):
    set_state("coupons", return_on_close=False)
    coupon, order = _placed_with_coupon(app, buyer)
    with app.test_request_context():
        close_order(db.session.get(Order, order.id), CancelReason.PAYMENT_TIMEOUT, Actor.system())
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 1
    set_state("coupons", return_on_close=True)
    shipped = OrderEventInfo(order_id=order.id, kind="status", from_status="shipped", to_status="closed",
                             reason="", actor_kind="system", at=datetime(2026, 1, 1))
    assert give_back_for_event(db.session.get(Order, order.id), shipped) is False


def test_single_use_code_works_once(app, enabled):
    coupon = make_coupon(single_use_codes=True, code=None)
    [code] = admin_services.generate_codes(coupon.id, 1)
    first, second = make_user(), make_user()
    for user in (first, second):
        fill_cart(app, user, (make_product(price=5000).skus[0], 1))
    services.apply_code(first, find_cart(first), code.lower())
    services.apply_code(second, find_cart(second), code)
    assert place(app, first).orders[0].discount_total == 1000
    with pytest.raises(CheckoutBlocked):
        place(app, second)
    fresh()
    assert db.session.execute(select(CouponCode)).scalar_one().used_by == first.id


def test_claim_quota_under_concurrency(app, enabled):
    coupon = make_coupon(claimable=True, claim_quota=5, per_buyer_limit=1)
    users = [make_user().id for _i in range(15)]
    coupon_id = coupon.id  # never touch test-session objects from threads

    def grab(i):
        with app.app_context():
            from storefront.accounts.models import User

            try:
                return services.claim(db.session.get(User, users[i]), coupon_id).id
            finally:
                db.session.remove()

    results, errors = run_threads(15, grab)
    assert len(results) == 5 and len(errors) == 10 and all(isinstance(e, Conflict) for e in errors)
    fresh()
    assert db.session.get(Coupon, coupon.id).claimed == 5


def test_a_claim_does_not_reload_the_coupon_or_the_buyer_inside_the_write_lock(app, enabled, buyer):
    """Everybody claims at the sale's first minute: the claim's write transaction sends its
    conditional UPDATEs and the wallet row, and reads neither the coupon nor the buyer again."""
    from tests.perf.conftest import count_queries

    coupon = make_coupon(claimable=True, claim_quota=5, per_buyer_limit=1)
    db.session.commit()
    with count_queries() as seen:
        row = services.claim(buyer, coupon.id)
    inside = seen.inside_writes()
    assert row.id and inside.matching(r"^UPDATE coupons_coupons SET claimed")
    assert not inside.matching(r"^SELECT (coupons_coupons|users)\.id"), inside


def test_one_buyer_claims_once_from_parallel_sessions(app, enabled, buyer):
    coupon = make_coupon(claimable=True, per_buyer_limit=1)
    coupon_id, buyer_class, buyer_id = coupon.id, type(buyer), buyer.id  # not from threads

    def grab(_i):
        with app.app_context():
            try:
                return services.claim(db.session.get(buyer_class, buyer_id), coupon_id).id
            finally:
                db.session.remove()

    results, errors = run_threads(6, grab)
    assert len(results) == 1 and len(errors) == 5
    fresh()
    assert db.session.scalar(select(func.count()).select_from(WalletCoupon)) == 1
    assert db.session.get(Coupon, coupon.id).claimed == 1


# --- split checkout: one use per checkout, its discount allocated over the orders -------------------


class SplitPerSku:
    """A test plugin splitting every checkout into one order per SKU."""

    @hookimpl
    def split_checkout(self, checkout):
        return [CheckoutGroup(key=f"g{line.sku_id}", sku_ids=(line.sku_id,)) for line in checkout.breakdown.lines]


def _split_checkout_with_coupon(app, buyer):
    coupon = make_coupon(code="SPLIT", amount=1000, per_buyer_limit=1)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1), (make_product(price=15000).skus[0], 1))
    services.apply_code(buyer, find_cart(buyer), "split")
    result = place(app, buyer)
    return coupon, result


def _close(app, order_id):
    with app.test_request_context():
        close_order(db.session.get(Order, order_id), CancelReason.PAYMENT_TIMEOUT, Actor.system())


def test_split_checkout_allocates_the_coupon_and_uses_it_once(app, enabled, buyer):
    with plugin(app, SplitPerSku(), "split_per_sku"):
        coupon, result = _split_checkout_with_coupon(app, buyer)
    assert len(result.orders) == 2
    fresh()
    orders = [db.session.get(Order, o.id) for o in result.orders]
    shares = sorted(sum(-a.amount for a in o.adjustments if a.source == "coupons") for o in orders)
    assert shares == [250, 750]  # spread by line value: 5000 and 15000 of 20000
    assert sum(o.discount_total for o in orders) == 1000
    for order in orders:  # each order's share is allocated to its own lines (refunds use it)
        [adj] = [a for a in order.adjustments if a.source == "coupons"]
        assert sum(adj.allocation.values()) == -adj.amount
        assert {int(k) for k in adj.allocation} <= {line.id for line in order.lines}
    use = db.session.execute(select(CouponUse)).scalar_one()
    assert use.order_id in {o.id for o in orders} and use.discount == 1000
    assert db.session.get(Coupon, coupon.id).used == 1


def test_split_coupon_goes_back_only_when_every_order_closed_unshipped(app, enabled, buyer):
    with plugin(app, SplitPerSku(), "split_per_sku"):
        coupon, result = _split_checkout_with_coupon(app, buyer)
    first, second = (o.id for o in result.orders)
    _close(app, first)
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 1  # the other order still has its share
    assert db.session.execute(select(CouponUse.status)).scalar_one() == "used"
    _close(app, second)
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 0
    assert db.session.execute(select(CouponUse.status)).scalar_one() == "returned"


def test_split_coupon_stays_used_when_one_order_had_shipped(app, enabled, buyer):
    with plugin(app, SplitPerSku(), "split_per_sku"):
        coupon, result = _split_checkout_with_coupon(app, buyer)
    first, second = (o.id for o in result.orders)
    with write_transaction():  # as if shipped, then closed after the goods came back
        row = db.session.get(Order, first)
        row.shipped_at, row.status = datetime(2026, 1, 2), OrderStatus.CLOSED
    _close(app, second)
    fresh()
    assert db.session.get(Coupon, coupon.id).used == 1
    assert db.session.execute(select(CouponUse.status)).scalar_one() == "used"

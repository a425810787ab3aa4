"""Coupon values, conditions, codes and the cart/checkout breakdown."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from plugins.coupons import services
from plugins.coupons.models import Coupon
from plugins.coupons.rules import normalize_code
from storefront.cart.services import find_cart
from storefront.catalog.models import Sku
from storefront.checkout import services as checkout
from storefront.checkout.pricing import price_cart
from storefront.clock import utcnow
from storefront.errors import CheckoutBlocked, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.plugins import Offer, hookimpl
from storefront.settings import get_setting
from tests.checkout.helpers import ADDRESS, fresh, plugin
from tests.factories import make_product, make_user

from .conftest import fill_cart, make_coupon, set_state


def cart_of(user):
    fresh()
    return find_cart(user)


def discount(user) -> int:
    breakdown = price_cart(cart_of(user), user)
    return -sum(a.amount for a in breakdown.adjustments if a.source == "coupons")


def apply(user, code):
    return services.apply_code(user, cart_of(user), code)


@pytest.mark.parametrize("raw, expected", [("double11", "DOUBLE11"), (" Dou ble 11 ", "DOUBLE11"),
                                           ("ＤＯＵＢＬＥ１１", "DOUBLE11"), ("ｄｏｕｂｌｅ　１１", "DOUBLE11")])
def test_code_normalisation(raw, expected):
    assert normalize_code(raw) == expected


def test_percent_with_cap_and_code_variants(app, enabled, buyer):
    make_coupon(name="Double 11", code="double11", kind="percent", percent_bp=1000, max_discount=5000)
    fill_cart(app, buyer, (make_product(price=30000).skus[0], 1))
    apply(buyer, "ｄｏｕｂｌｅ １１")
    assert discount(buyer) == 3000
    fill_cart(app, buyer, (make_product(price=40000).skus[0], 1))
    assert discount(buyer) == 5000  # 10 % of ¥700 capped at ¥50


@pytest.mark.parametrize("spend, off", [(19999, 0), (20000, 2000), (49999, 2000), (50000, 6000), (90000, 6000)])
def test_spend_threshold_tiers(app, enabled, buyer, spend, off):
    make_coupon(code="MANJIAN", kind="tiers", tiers=[[20000, 2000], [50000, 6000]])
    fill_cart(app, buyer, (make_product(price=spend).skus[0], 1))
    if off == 0:
        with pytest.raises(ValidationFailed) as err:
            apply(buyer, "manjian")
        assert "more" in err.value.message
    else:
        apply(buyer, "manjian")
        assert discount(buyer) == off


@pytest.mark.parametrize("spend, off", [(20000, 2000), (39999, 2000), (60000, 6000), (200000, 8000)])
def test_repeating_every_x_with_cap(app, enabled, buyer, spend, off):
    make_coupon(code="EVERY200", kind="repeat", step=20000, amount=2000, max_discount=8000)
    fill_cart(app, buyer, (make_product(price=spend).skus[0], 1))
    apply(buyer, "every200")
    assert discount(buyer) == off


def test_fixed_larger_than_cart_floors_at_zero(app, enabled, buyer):
    make_coupon(code="HUGE", kind="fixed", amount=10**7)
    fill_cart(app, buyer, (make_product(price=1500).skus[0], 2))
    apply(buyer, "huge")
    breakdown = price_cart(cart_of(buyer), buyer)
    assert breakdown.total == int(get_setting("courier_fee"))  # goods free, shipping still paid
    assert all(line.paid == 0 for line in breakdown.lines)


def test_free_shipping_coupon(app, enabled, buyer):
    make_coupon(code="SHIPFREE", kind="shipping")
    fill_cart(app, buyer, (make_product(price=1500).skus[0], 1))
    apply(buyer, "shipfree")
    breakdown = price_cart(cart_of(buyer), buyer)
    assert breakdown.total == 1500
    assert [a.kind for a in breakdown.adjustments if a.source == "coupons"] == ["shipping"]


def test_min_spend_and_selected_products(app, enabled, buyer):
    chosen, other = make_product(price=5000), make_product(price=50000)
    make_coupon(code="SHIRTS", kind="fixed", amount=1000, min_spend=8000, product_ids=[chosen.id])
    fill_cart(app, buyer, (chosen.skus[0], 1), (other.skus[0], 1))
    with pytest.raises(ValidationFailed):
        apply(buyer, "shirts")  # only ¥50 of qualifying items
    fill_cart(app, buyer, (chosen.skus[0], 1))  # now 2 x ¥50
    apply(buyer, "shirts")
    breakdown = price_cart(cart_of(buyer), buyer)
    by_sku = {line.sku_id: line.discount for line in breakdown.lines}
    assert by_sku == {chosen.skus[0].id: 1000, other.skus[0].id: 0}


class Presale:
    def __init__(self, sku_id):
        self.sku_id = sku_id

    @hookimpl
    def product_offer(self, product, sku, buyer):
        if sku.id == self.sku_id:
            return Offer(source="presale", ship_promise="Ships by 1 Dec", group="presale")
        return None


def test_excludes_presale_and_discounted_items(app, enabled, buyer):
    presale, sale, normal = make_product(price=10000), make_product(price=10000), make_product(price=10000)
    db.session.get(Sku, sale.skus[0].id).compare_at_price = 15000
    db.session.commit()
    make_coupon(code="PLAIN", kind="percent", percent_bp=1000, exclude_presale=True, exclude_discounted=True)
    fill_cart(app, buyer, (presale.skus[0], 1), (sale.skus[0], 1), (normal.skus[0], 1))
    with plugin(app, Presale(presale.skus[0].id)):
        apply(buyer, "plain")
        breakdown = price_cart(cart_of(buyer), buyer)
    assert {line.sku_id: line.discount for line in breakdown.lines} == {
        presale.skus[0].id: 0, sale.skus[0].id: 0, normal.skus[0].id: 1000}


@pytest.mark.parametrize("values, message", [
    ({"active": False}, "paused"),
    ({"ends_at": "past"}, "expired"),
    ({"starts_at": "future"}, "not valid yet"),
    ({"total_quantity": 1, "used": 1}, "run out"),
])
def test_unusable_codes_change_nothing(app, enabled, buyer, values, message):
    coupon = make_coupon(code="NOPE")
    row = db.session.get(Coupon, coupon.id)
    now = utcnow()
    for key, value in values.items():
        setattr(row, key, now - timedelta(hours=1) if value == "past" else
                now + timedelta(hours=1) if value == "future" else value)
    db.session.commit()
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    before = dict(cart_of(buyer).data or {})
    with pytest.raises(ValidationFailed) as err:
        apply(buyer, "nope")
    assert message in err.value.message
    assert (cart_of(buyer).data or {}) == before


@pytest.mark.parametrize("code", ["", "  ", "x", "NOSUCH", "<script>", "A" * 60, "DROP TABLE;"])
def test_bad_codes_are_refused(app, enabled, buyer, code):
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    with pytest.raises(ValidationFailed):
        apply(buyer, code)
    assert "coupons" not in (cart_of(buyer).data or {})


def test_one_coupon_per_order_latest_choice_wins(app, enabled, buyer):
    make_coupon(code="AAA", amount=1000)
    make_coupon(code="BBB", amount=2000)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    apply(buyer, "aaa")
    apply(buyer, "bbb")
    adjustments = [a for a in price_cart(cart_of(buyer), buyer).adjustments if a.source == "coupons"]
    assert [a.amount for a in adjustments] == [-2000]


def test_disabling_removes_discount_at_once_placed_orders_keep_it(app, enabled, buyer):
    make_coupon(code="TEN")
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 2))
    apply(buyer, "ten")
    with app.test_request_context():
        result = checkout.place_order(buyer, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    order_id = result.orders[0].id
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    apply(buyer, "ten")
    assert discount(buyer) == 1000
    set_state("coupons", enabled=False)
    assert discount(buyer) == 0
    from storefront.orders.models import Order

    fresh()
    assert db.session.get(Order, order_id).discount_total == 1000


def test_expired_at_submit_blocks_with_message_and_never_charges_stale(app, enabled, buyer):
    coupon = make_coupon(code="SOON")
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    apply(buyer, "soon")
    assert checkout.prepare_checkout(buyer, address=dict(ADDRESS)).breakdown.total == 5000 - 1000 + 1000
    db.session.get(Coupon, coupon.id).ends_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    draft = checkout.prepare_checkout(buyer, address=dict(ADDRESS))
    assert not [a for a in draft.breakdown.adjustments if a.source == "coupons"]
    assert [p.code for p in draft.problems] == ["coupon_unavailable"]
    assert "expired" in draft.problems[0].message
    with app.test_request_context(), pytest.raises(CheckoutBlocked):
        checkout.place_order(buyer, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    services.remove_coupon(buyer, cart_of(buyer))
    with app.test_request_context():
        result = checkout.place_order(buyer, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    assert result.orders[0].discount_total == 0


def test_no_longer_qualifying_is_reported(app, enabled, buyer):
    make_coupon(code="MIN100", min_spend=10000)
    sku = make_product(price=6000).skus[0]
    fill_cart(app, buyer, (sku, 2))
    apply(buyer, "min100")
    with app.test_request_context():
        from storefront.cart import services as cart_services

        cart_services.set_quantity(cart_of(buyer), sku.id, 1)
    draft = checkout.prepare_checkout(buyer, address=dict(ADDRESS))
    assert [p.code for p in draft.problems] == ["coupon_unavailable"]
    assert draft.breakdown.total == 6000 + int(get_setting("courier_fee"))


def test_typed_but_not_applied_code_blocks(app, enabled, buyer):
    make_coupon(code="TYPED")
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    draft = checkout.prepare_checkout(buyer, address=dict(ADDRESS), extra={"coupons_code": "typed"})
    assert [p.code for p in draft.problems] == ["coupon_not_applied"]


def test_best_wallet_coupon_is_preselected_and_can_be_changed(app, enabled, buyer):
    small = make_coupon(name="Small", claimable=True, amount=500)
    big = make_coupon(name="Big", claimable=True, amount=1500)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    rows = {services.claim(buyer, c.id).coupon_id: None for c in (small, big)}
    assert rows
    assert discount(buyer) == 1500
    wallet = {row.coupon_id: row.id for row in services.wallet_rows(buyer)}
    services.choose_wallet_coupon(buyer, cart_of(buyer), wallet[small.id])
    assert discount(buyer) == 500
    services.remove_coupon(buyer, cart_of(buyer))
    assert discount(buyer) == 0


def test_another_buyers_wallet_coupon_is_not_found(app, enabled, buyer):
    coupon = make_coupon(claimable=True)
    other = make_user()
    row = services.claim(other, coupon.id)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 1))
    with pytest.raises(NotFound):
        services.choose_wallet_coupon(buyer, cart_of(buyer), row.id)
    with pytest.raises(NotFound):
        services.choose_wallet_coupon(buyer, cart_of(buyer), "abc")


def test_coupon_counts_before_free_shipping_threshold(app, enabled, buyer):
    set_state("free_shipping", thresholds="courier:99.00", basis="after")
    make_coupon(code="TEN")
    fill_cart(app, buyer, (make_product(price=10000).skus[0], 1))
    assert price_cart(cart_of(buyer), buyer).total == 10000
    apply(buyer, "ten")
    assert price_cart(cart_of(buyer), buyer).total == 9000 + int(get_setting("courier_fee"))


def test_demo_data(app, enabled, buyer):
    from plugins.coupons import hooks

    hooks.demo_data(now=utcnow())
    db.session.commit()
    names = {c.name: c for c in db.session.query(Coupon)}
    gift = names["¥20 off ¥199"]
    assert gift.claimable and gift.amount == 2000 and gift.min_spend == 19900
    fill_cart(app, buyer, (make_product(price=100000).skus[0], 1))
    apply(buyer, "double11")
    assert discount(buyer) == 5000

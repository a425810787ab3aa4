"""Pricing properties: allocation is exact and never negative; totals always add up."""
from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storefront.cart import services as cart_services
from storefront.checkout import services as checkout
from storefront.checkout.pricing import PricedLine, apply_adjustments, order_breakdown, price_cart
from storefront.money import allocate, allocate_capped
from storefront.plugins import Adjustment, hookimpl

from .helpers import ADDRESS, plugin
from ..factories import make_product, make_user

weights_st = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12)


@given(total=st.integers(min_value=-10**9, max_value=10**9), weights=weights_st)
def test_allocate_sums_exactly_with_the_sign_of_the_total(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total and len(parts) == len(weights)
    assert all(p >= 0 for p in parts) if total >= 0 else all(p <= 0 for p in parts)
    weight_sum = sum(weights) or len(weights)
    for part, weight in zip(parts, weights if sum(weights) else [1] * len(weights)):
        share = abs(total) * weight / weight_sum
        assert abs(abs(part) - share) < 1 + 1e-6


@given(total=st.integers(min_value=0, max_value=10**9), weights=weights_st)
def test_allocate_capped_never_exceeds_a_line(total, weights):
    parts = allocate_capped(total, weights)
    assert sum(parts) == min(total, sum(weights))
    assert all(0 <= part <= weight for part, weight in zip(parts, weights))


def _line(i, price, qty):
    return PricedLine(sku_id=i + 1, product_id=i + 1, product_name=f"P{i}", product_slug=f"p{i}", sku_code=f"S{i}",
                      sku_label="", unit_price=price, quantity=qty, subtotal=price * qty)


adjustment_st = st.builds(
    lambda amount, kind, order, subset: (amount, kind, order, subset),
    st.integers(min_value=-10**6, max_value=5000), st.sampled_from(["discount", "shipping"]),
    st.sampled_from([100, 200, 300, 400]), st.booleans())


@given(prices=st.lists(st.tuples(st.integers(0, 10**5), st.integers(1, 99)), min_size=1, max_size=6),
       raw=st.lists(adjustment_st, max_size=6), shipping=st.integers(0, 5000))
def test_adjustments_keep_every_line_and_the_total_non_negative(prices, raw, shipping):
    lines = [_line(i, price, qty) for i, (price, qty) in enumerate(prices)]
    adjustments = [Adjustment(code=f"A{n}", label="adj", amount=amount, source="t", kind=kind, order=order,
                              lines=(lines[0].sku_id,) if subset else None)
                   for n, (amount, kind, order, subset) in enumerate(raw)]
    priced, applied = apply_adjustments(lines, adjustments, shipping)
    for line in priced:
        assert 0 <= line.discount <= line.subtotal
    discounts = [a for a in applied if a.kind == "discount" and a.amount < 0]
    assert sum(line.discount for line in priced) == -sum(a.amount for a in discounts)
    for adj in discounts:
        assert sum(adj.allocation.values()) == -adj.amount
    shipping_left = shipping + sum(a.amount for a in applied if a.kind == "shipping")
    assert shipping_left >= 0
    total = sum(line.subtotal for line in lines) + sum(a.amount for a in applied) + shipping
    assert total >= 0
    assert total == sum(line.paid for line in priced) + shipping_left + sum(
        a.amount for a in applied if a.kind == "discount" and a.amount > 0)


class Discounts:
    def __init__(self, amounts):
        self.amounts = amounts

    @hookimpl
    def cart_adjustments(self, cart, lines, subtotal, buyer, delivery):
        return [Adjustment(code=f"D{i}", label=f"Discount {i}", amount=-a, source="testplugin", order=100 + i)
                for i, a in enumerate(self.amounts)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(st.integers(1, 50000), st.integers(1, 5)), min_size=1, max_size=4),
       discounts=st.lists(st.integers(1, 100000), max_size=3))
def test_price_cart_totals_and_placed_orders_agree(app, items, discounts):
    user = make_user()
    with app.test_request_context(), plugin(app, Discounts(discounts)):
        cart = cart_services.get_cart(create=True, user=user)
        for price, qty in items:
            cart_services.add_item(cart, make_product(price=price, stock=10).skus[0].id, qty)
        cart = cart_services.find_cart(user)
        breakdown = price_cart(cart, user)
        subtotal = sum(price * qty for price, qty in items)
        assert breakdown.subtotal == subtotal and breakdown.shipping == 1000
        assert breakdown.discount_total == min(sum(discounts), subtotal)
        assert breakdown.total == subtotal - breakdown.discount_total + 1000 >= 1000
        assert all(0 <= line.paid <= line.subtotal for line in breakdown.lines)
        result = checkout.place_order(user, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
        order = result.orders[0]
        assert order_breakdown(order).to_json() == breakdown.to_json()
        assert sum(line.paid_amount for line in order.lines) + order.shipping_total == order.total

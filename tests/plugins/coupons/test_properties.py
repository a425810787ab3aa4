"""Property tests: totals never negative, allocation exact, percentages rounded exactly."""
from __future__ import annotations

from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.coupons.rules import evaluate
from plugins.coupons.services import Selection
from storefront.checkout.pricing import PricedLine, apply_adjustments
from storefront.money import percent_of

LINES = st.lists(st.tuples(st.integers(1, 500_000), st.integers(1, 20)), min_size=1, max_size=6)
COUPONS = st.one_of(
    st.builds(lambda bp, cap: dict(kind="percent", percent_bp=bp, max_discount=cap),
              st.integers(1, 10000), st.integers(0, 100_000)),
    st.builds(lambda amount: dict(kind="fixed", amount=amount), st.integers(1, 10**8)),
    st.builds(lambda a, b: dict(kind="tiers", tiers=[[a, min(a, b)], [a * 2, min(a * 2, b * 3)]]),
              st.integers(1, 200_000), st.integers(1, 200_000)),
    st.builds(lambda step, off, cap: dict(kind="repeat", step=step, amount=off, max_discount=cap),
              st.integers(1, 100_000), st.integers(1, 100_000), st.integers(0, 1_000_000)),
)


def coupon(values):
    base = dict(id=1, name="P", kind="fixed", percent_bp=0, max_discount=0, amount=0, step=0, tiers=[],
                min_spend=0, product_ids=[], exclude_presale=False, exclude_discounted=False)
    return SimpleNamespace(**{**base, **values})


def priced(items):
    return [PricedLine(sku_id=i + 1, product_id=i + 1, product_name="p", product_slug="p", sku_code="s",
                       sku_label="", unit_price=price, quantity=qty, subtotal=price * qty)
            for i, (price, qty) in enumerate(items)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=LINES, values=COUPONS, shipping=st.integers(0, 5000))
def test_never_negative_and_exactly_allocated(app, items, values, shipping):
    with app.test_request_context():
        lines = priced(items)
        c = coupon(values)
        result = evaluate(c, lines, {})
        subtotal = sum(line.subtotal for line in lines)
        assert 0 <= result.discount <= subtotal
        adjustment = Selection(c, result).adjustment()
        discounted, applied = apply_adjustments(lines, [adjustment] if adjustment else [], shipping)
        total = subtotal + sum(a.amount for a in applied) + shipping
        assert total >= shipping >= 0
        assert all(0 <= line.paid <= line.subtotal for line in discounted)
        assert sum(line.discount for line in discounted) == -sum(a.amount for a in applied) == result.discount
        if c.kind == "percent":
            expected = percent_of(subtotal, c.percent_bp)
            assert result.discount == (min(expected, c.max_discount) if c.max_discount else expected)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=LINES, amount=st.integers(1, 10**9))
def test_coupon_larger_than_cart_floors_at_zero(app, items, amount):
    with app.test_request_context():
        lines = priced(items)
        c = coupon(dict(kind="fixed", amount=amount))
        result = evaluate(c, lines, {})
        discounted, _applied = apply_adjustments(lines, [Selection(c, result).adjustment()], 0)
        assert sum(line.paid for line in discounted) == max(sum(line.subtotal for line in lines) - amount, 0)

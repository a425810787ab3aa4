"""Money: exact integer minor units, parsing at the edges, formatting, allocation."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storefront.money import (Money, MoneyError, allocate, allocate_capped, exponent, parse_money,
                              percent_of, total)

amounts = st.integers(min_value=-10**12, max_value=10**12)
currencies = st.sampled_from(["CNY", "VND"])


# -- the value type -------------------------------------------------------------

def test_exponents():
    assert exponent("CNY") == 2
    assert exponent("VND") == 0


def test_arithmetic_in_one_currency():
    a, b = Money(1050, "CNY"), Money(250, "CNY")
    assert a + b == Money(1300, "CNY")
    assert a - b == Money(800, "CNY")
    assert b - a == Money(-800, "CNY")
    assert a * 3 == 3 * a == Money(3150, "CNY")
    assert -a == Money(-1050, "CNY")
    assert Money.zero("VND") == Money(0, "VND") and not Money.zero("VND")
    assert b < a and a > b and a >= a and b <= b
    assert total([a, b, b], "CNY") == Money(1550, "CNY")
    assert total([], "VND") == Money(0, "VND")


@pytest.mark.parametrize("operation", [
    lambda: Money(1, "CNY") + Money(1, "VND"),
    lambda: Money(1, "CNY") - Money(1, "VND"),
    lambda: Money(1, "CNY") < Money(2, "VND"),
    lambda: Money(1, "CNY") >= Money(2, "VND"),
    lambda: Money(1, "CNY") + 1,
    lambda: Money(1, "CNY") * 1.5,
    lambda: Money(1, "CNY") * Decimal("2"),
    lambda: Money(1, "CNY") * True,
    lambda: Money(1.5, "CNY"),
    lambda: Money(Decimal("1"), "CNY"),
    lambda: Money(True, "CNY"),
    lambda: Money(1, "cny"),
    lambda: Money(1, "YUAN"),
    lambda: Money(1, ""),
    lambda: Money(100, "CNY").percent(12.5),
    lambda: total([Money(1, "CNY"), Money(1, "VND")], "CNY"),
    lambda: Money(1, "CNY").clamp(low=Money(0, "VND")),
])
def test_mixing_currencies_or_inexact_numbers_is_refused(operation):
    with pytest.raises(MoneyError):
        operation()


def test_equality_includes_the_currency():
    assert Money(100, "CNY") != Money(100, "VND")
    assert len({Money(100, "CNY"), Money(100, "CNY"), Money(100, "VND")}) == 2


def test_clamp_and_percent():
    assert Money(5000, "CNY").clamp(Money(100, "CNY"), Money(3000, "CNY")) == Money(3000, "CNY")
    assert Money(50, "CNY").clamp(low=Money(100, "CNY")) == Money(100, "CNY")
    # Late-shipment compensation example: 5 % of ¥12.30 = 61.5 fen -> 62 (half up, once).
    assert Money(1230, "CNY").percent(500) == Money(62, "CNY")
    assert Money(5, "CNY").percent(1000) == Money(1, "CNY")  # 0.5 rounds up
    assert Money(4, "CNY").percent(1000) == Money(0, "CNY")
    assert Money(-5, "CNY").percent(1000) == Money(-1, "CNY")  # away from zero


@given(amounts, st.integers(min_value=0, max_value=100_000))
def test_percent_of_is_round_half_up_of_the_exact_value(amount, bp):
    exact = Fraction(abs(amount) * bp, 10000)
    expected = int(exact) + (1 if exact - int(exact) >= Fraction(1, 2) else 0)
    assert percent_of(amount, bp) == (expected if amount >= 0 else -expected)


def test_json_and_str():
    assert Money(12345, "CNY").to_json() == {"amount": 12345, "currency": "CNY", "decimal": "123.45"}
    assert Money(150000, "VND").to_json()["decimal"] == "150000"
    assert str(Money(5, "CNY")) == "0.05 CNY"


# -- formatting -----------------------------------------------------------------

@pytest.mark.parametrize("money, locale, expected", [
    (Money(12345, "CNY"), "zh_Hans", "¥123.45"),
    (Money(12345, "CNY"), "en", "CN¥123.45"),
    (Money(123456789, "CNY"), "zh_Hans", "¥1,234,567.89"),
    (Money(12345, "CNY"), "vi", "123,45\xa0CN¥"),
    (Money(150000, "VND"), "vi", "150.000\xa0₫"),
    (Money(150000, "VND"), "en", "₫150,000"),
    (Money(5, "CNY"), "zh_Hans", "¥0.05"),
    (Money(-500, "CNY"), "zh_Hans", "-¥5.00"),
])
def test_format_per_locale(money, locale, expected):
    assert money.format(locale) == expected


# -- parsing what people type ---------------------------------------------------

@pytest.mark.parametrize("text, currency, expected", [
    ("12", "CNY", 1200),
    ("12.5", "CNY", 1250),
    ("12.50", "CNY", 1250),
    ("12,50", "CNY", 1250),
    ("12.", "CNY", 1200),
    ("0.01", "CNY", 1),
    ("  7.99 ", "CNY", 799),
    ("¥99", "CNY", 9900),
    ("￥99.9", "CNY", 9990),
    ("99 元", "CNY", 9900),
    ("１２．５", "CNY", 1250),          # full-width digits and dot from a Chinese IME
    ("１，２９９", "CNY", 129900),      # full-width comma as thousands separator
    ("1,299", "CNY", 129900),
    ("1,299.00", "CNY", 129900),
    ("1.299,50", "CNY", 129950),
    ("1,000,000", "CNY", 100000000),
    ("1.000.000", "CNY", 100000000),
    ("12,999", "CNY", 1299900),
    ("150000", "VND", 150000),
    ("150.000", "VND", 150000),
    ("150.000 ₫", "VND", 150000),
    ("150,000đ", "VND", 150000),
    ("1.500.000", "VND", 1500000),
    ("0", "VND", 0),
    ("000123", "CNY", 12300),
    ("999999999999.99", "CNY", 99999999999999),
    (12, "CNY", 1200),
    (Decimal("12.30"), "CNY", 1230),
    (Decimal("150000"), "VND", 150000),
])
def test_parse_money_accepts(text, currency, expected):
    assert parse_money(text, currency) == Money(expected, currency)


@pytest.mark.parametrize("text, currency, message", [
    ("", "CNY", "not a valid amount"),
    ("   ", "CNY", "not a valid amount"),
    ("abc", "CNY", "not a valid amount"),
    ("1e3", "CNY", "not a valid amount"),
    ("12.3.4", "CNY", "not a valid amount"),
    ("1,000,5", "CNY", "not a valid amount"),
    (".5", "CNY", "not a valid amount"),
    ("12 34", "CNY", "not a valid amount"),
    ("-1", "CNY", "negative"),
    ("-0.01", "CNY", "negative"),
    ("－5", "CNY", "negative"),  # full-width minus
    ("1.5", "VND", "0 decimal places"),
    ("12,5", "VND", "0 decimal places"),
    ("1.2345", "CNY", "2 decimal places"),
    ("0.001", "CNY", "2 decimal places"),
    ("0,500", "CNY", "2 decimal places"),  # a leading 0 is never a thousands group
    ("12.999", "CNY", "2 decimal places"),  # a typo, not twelve thousand
    ("1.005", "CNY", "2 decimal places"),
    ("1000000000000", "CNY", "too large"),
    ("1,000,000,000,000", "VND", "too large"),
    ("9" * 40, "CNY", "too large"),
    (1.5, "CNY", "not a number"),
    (None, "CNY", "not a number"),
    (True, "CNY", "not a number"),
    (-5, "CNY", "negative"),
])
def test_parse_money_refuses(text, currency, message):
    with pytest.raises(MoneyError, match=message):
        parse_money(text, currency)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**14 - 1), st.sampled_from(["en", "zh_Hans", "vi"]))
def test_formatted_cny_parses_back(amount, locale):
    money = Money(amount, "CNY")
    assert parse_money(money.format(locale), "CNY") == money


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**12 - 1), st.sampled_from(["en", "zh_Hans", "vi"]))
def test_formatted_vnd_parses_back(amount, locale):
    money = Money(amount, "VND")
    assert parse_money(money.format(locale), "VND") == money


@given(st.integers(min_value=0, max_value=10**12 - 1), st.integers(min_value=0, max_value=99))
def test_plain_decimal_strings_parse_exactly(whole, cents):
    assert parse_money(f"{whole}.{cents:02d}", "CNY").amount == whole * 100 + cents


# -- allocation -----------------------------------------------------------------

def test_allocate_examples():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate(10, [0, 0]) == [5, 5]  # all-zero weights: even split
    assert allocate(0, [5, 7]) == [0, 0]
    assert allocate(0, []) == []
    assert allocate(1000, [3000, 0, 7000]) == [300, 0, 700]


def test_allocate_refuses_impossible_splits():
    with pytest.raises(MoneyError):
        allocate(1, [])
    with pytest.raises(MoneyError):
        allocate(10, [5, -1])


weights_strategy = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=30)


@given(st.integers(min_value=-10**9, max_value=10**9), weights_strategy)
def test_allocate_sums_exactly_and_stays_within_one_unit_of_the_share(amount, weights):
    parts = allocate(amount, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == amount
    base = weights if sum(weights) else [1] * len(weights)
    for part, weight in zip(parts, base):
        share = Fraction(abs(amount) * weight, sum(base))
        assert part == 0 or (part > 0) == (amount > 0)
        assert share - 1 < abs(part) < share + 1


@given(st.integers(min_value=0, max_value=10**9), weights_strategy)
def test_allocate_capped_never_discounts_a_line_below_zero(discount, prices):
    parts = allocate_capped(discount, prices)
    assert sum(parts) == min(discount, sum(prices))
    assert all(0 <= part <= price for part, price in zip(parts, prices))


@given(st.integers(min_value=0, max_value=10**9), weights_strategy)
def test_allocate_is_deterministic(amount, weights):
    assert allocate(amount, weights) == allocate(amount, list(weights))

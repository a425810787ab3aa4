"""Exact money: integer minor units plus an ISO 4217 currency code.

No floats and no ``Decimal`` columns anywhere: SQLite would store them as
floats. Percentages are integer basis points, rounded once, half up. An
order-level amount is spread over lines by largest remainder so every line
knows exactly what the buyer paid for it.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Iterable, Sequence

from babel.numbers import format_currency, get_currency_precision


class MoneyError(ValueError):
    """A money amount could not be parsed or combined."""


def exponent(currency: str) -> int:
    """Number of minor-unit digits (CNY 2, VND 0, JPY 0)."""
    return get_currency_precision(currency)


@dataclass(frozen=True)
class Money:
    amount: int  # minor units (fen, đồng)
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise MoneyError(f"amount must be an integer of minor units, got {self.amount!r}")
        if not re.fullmatch(r"[A-Z]{3}", self.currency or ""):
            raise MoneyError(f"bad currency code {self.currency!r}")

    # arithmetic -----------------------------------------------------
    def _check(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise MoneyError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, quantity: int) -> "Money":
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise MoneyError("money can only be multiplied by an integer")
        return Money(self.amount * quantity, self.currency)

    __rmul__ = __mul__

    # Ordering only within one currency: ¥1 < ₫2 is meaningless, so it raises.
    def __lt__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount < other.amount

    def __le__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount <= other.amount

    def __gt__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount > other.amount

    def __ge__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount >= other.amount

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __bool__(self) -> bool:
        return self.amount != 0

    @classmethod
    def zero(cls, currency: str = "CNY") -> "Money":
        return cls(0, currency)

    def percent(self, basis_points: int) -> "Money":
        """``basis_points`` / 10000 of this amount, rounded half up once."""
        if isinstance(basis_points, bool) or not isinstance(basis_points, int):
            raise MoneyError("basis points must be an integer")
        return Money(percent_of(self.amount, basis_points), self.currency)

    def clamp(self, low: "Money | None" = None, high: "Money | None" = None) -> "Money":
        amount = self.amount
        if low is not None:
            self._check(low)
            amount = max(amount, low.amount)
        if high is not None:
            self._check(high)
            amount = min(amount, high.amount)
        return Money(amount, self.currency)

    # edges ------------------------------------------------------------
    @property
    def decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def format(self, locale: str = "en") -> str:
        return format_currency(self.decimal, self.currency, locale=locale)

    def to_json(self) -> dict:
        return {"amount": self.amount, "currency": self.currency, "decimal": str(self.decimal)}

    def __str__(self) -> str:
        return f"{self.decimal} {self.currency}"


def percent_of(amount: int, basis_points: int) -> int:
    """Integer ``amount * bp / 10000`` rounded half up (away from zero)."""
    numerator = abs(amount) * basis_points
    result = (numerator + 5000) // 10000
    return result if amount >= 0 else -result


_PLAIN = re.compile(r"([0-9]+)(?:[.,]([0-9]*))?")
# 1,000 / 1.000.000 / 1,234.50 / 1.234,50: thousands groups of three digits,
# then optionally a decimal part after the *other* separator.
_GROUPED = re.compile(r"([1-9][0-9]{0,2}(?:([,.])[0-9]{3})+)(?:([,.])([0-9]*))?")
_SYMBOLS = ("CNY", "CN", "VND", "RMB", "\u00a5", "\u20ab", "$", "\u5143", "\u0111")


def _split_number(text: str, digits: int) -> tuple[str, str] | None:
    """(whole digits, fraction digits) of a typed amount, or None if it is not one."""
    grouped = _GROUPED.fullmatch(text)
    if grouped:
        body, group_sep, dec_sep, frac = grouped.groups()
        groups = body.count(group_sep)
        # A lone dot group is thousands only in currencies without minor units
        # (VND "150.000"); for CNY "12.999" is a typo of a decimal amount and
        # must be refused, not read as twelve thousand. "1.234,56" (vi locale)
        # and "1.000.000" cannot be decimals, so they stay grouped.
        if group_sep == "." and digits > 0 and not dec_sep and groups == 1:
            grouped = None
        # "1,000" alone is one thousand only where a currency cannot have three
        # decimals (CNY, VND); "1,000.5" and "1.000.000" are grouped in any case.
        elif dec_sep != group_sep and (dec_sep or groups > 1 or digits < 3):
            return body.replace(group_sep, ""), frac or ""
    plain = _PLAIN.fullmatch(text)
    if plain:
        return plain.group(1), plain.group(2) or ""
    return None


def parse_money(text: str | int | Decimal, currency: str) -> Money:
    """Parse an amount typed by a person into Money.

    Accepts "12.5", "12,50", thousands groups ("1,299.00", "150.000" for
    VND), full-width digits from Chinese input methods ("\uff11\uff12\uff0e\uff15") and a
    leading currency sign. Refuses negatives, more decimals than the
    currency has and absurd sizes, with a message fit for a form field.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if isinstance(text, Decimal):
        text = format(text, "f")
    if not isinstance(text, str):
        raise MoneyError("not a number")
    # NFKC folds full-width digits, dots, commas and the yen sign to ASCII.
    text = unicodedata.normalize("NFKC", text).strip()
    for symbol in _SYMBOLS:
        text = text.replace(symbol, "")
    text = text.strip()
    if text.startswith("-"):
        raise MoneyError("must not be negative")
    digits = exponent(currency)
    parts = _split_number(text, digits)
    if parts is None:
        raise MoneyError("not a valid amount")
    whole, frac = parts
    if len(frac) > digits:
        raise MoneyError(f"at most {digits} decimal places")
    if len(whole.lstrip("0")) > 12:
        raise MoneyError("amount too large")
    try:
        amount = int(whole + frac.ljust(digits, "0")) if digits else int(whole)
    except (ValueError, InvalidOperation) as exc:  # pragma: no cover - regex guards it
        raise MoneyError("not a valid amount") from exc
    return Money(amount, currency)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` over ``weights`` by largest remainder.

    The parts sum exactly to ``total``; each part has the sign of ``total``
    and no part exceeds its proportional share by more than one minor unit.
    When all weights are zero the split is even.
    """
    if not weights:
        if total:
            raise MoneyError("cannot allocate a non-zero amount over no lines")
        return []
    if any(w < 0 for w in weights):
        raise MoneyError("weights must not be negative")
    sign = -1 if total < 0 else 1
    remaining = abs(total)
    base_weights = list(weights) if sum(weights) > 0 else [1] * len(weights)
    weight_sum = sum(base_weights)
    parts = [remaining * w // weight_sum for w in base_weights]
    remainders = [(remaining * w % weight_sum, -i) for i, w in enumerate(base_weights)]
    shortfall = remaining - sum(parts)
    for _, neg_index in sorted(remainders, reverse=True)[:shortfall]:
        parts[-neg_index] += 1
    return [sign * p for p in parts]


def allocate_capped(total: int, weights: Sequence[int]) -> list[int]:
    """Allocate a discount that may not exceed each line's weight (its price).

    Used for discounts: no line can be discounted below zero. ``total`` is
    capped at ``sum(weights)``.
    """
    total = min(total, sum(weights))
    parts = allocate(total, weights)
    # Largest remainder never gives a line more than ceil(share) <= weight
    # when total <= sum(weights), so no further correction is needed.
    return parts


def total(amounts: Iterable[Money], currency: str) -> Money:
    result = Money.zero(currency)
    for item in amounts:
        result = result + item
    return result

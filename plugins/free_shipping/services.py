"""Free-shipping rules: which threshold applies, what it is compared with, who is excluded.

The threshold is compared with the amount the buyer pays for the goods: by
default after every discount that comes before shipping changes (item and
order discounts, coupons: ``Adjustment.order`` < 300), or before them when the
``basis`` setting says "before". Shipping and fees never count.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from types import MappingProxyType

from flask import current_app

from storefront.checkout.pricing import apply_adjustments
from storefront.errors import ValidationFailed
from storefront.i18n import gettext as _
from storefront.money import MoneyError, parse_money
from storefront.plugins import Adjustment
from storefront.plugins.host import flatten, get_host

NAME = "free_shipping"
SHIPPING_ORDER = 300
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass(frozen=True)
class Progress:
    threshold: int
    basis_amount: int
    reached: bool

    @property
    def missing(self) -> int:
        return max(self.threshold - self.basis_amount, 0)


def _currency() -> str:
    return current_app.config["STOREFRONT_CURRENCY"]


def parse_thresholds(value) -> dict[str, int]:
    """``"courier:99.00, express:199"`` (the settings form) or a dict of minor units -> {code: amount}."""
    if isinstance(value, dict):
        return {str(k): int(v) for k, v in value.items() if int(v) > 0}
    result: dict[str, int] = {}
    for part in re.split(r"[,\n;]+", value or ""):
        part = part.strip()
        if not part:
            continue
        code, sep, amount = part.partition(":")
        code = code.strip()
        if not sep or not _CODE.match(code):
            raise ValidationFailed(_("Write each threshold as code:amount, e.g. courier:99.00."),
                                   field="thresholds")
        try:
            minor = parse_money(amount.strip(), _currency()).amount
        except (MoneyError, ValueError):
            raise ValidationFailed(_("%(amount)s is not an amount.", amount=amount.strip()),
                                   field="thresholds") from None
        if minor <= 0:
            raise ValidationFailed(_("A threshold must be more than zero."), field="thresholds")
        result[code] = minor
    return result


@functools.lru_cache(maxsize=64)
def _parsed_text(text: str, currency: str) -> MappingProxyType:
    # Asked two or three times a cart page (the adjustment, the hint), and parsing money
    # per amount costs more than the rest of the check; the setting's text and the shop's
    # currency are all the answer depends on. A bad setting raises and is not kept.
    return MappingProxyType(parse_thresholds(text))


def _norm_region(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip().casefold()


def region_names(settings: dict) -> list[str]:
    """The excluded regions as the seller typed them (shown to buyers)."""
    raw = settings.get("excluded_regions") or ""
    items = raw if isinstance(raw, (list, tuple)) else re.split(r"[,\n;，、]+", raw)
    return [str(item).strip() for item in items if str(item).strip()]


def excluded_regions(settings: dict) -> set[str]:
    return {_norm_region(item) for item in region_names(settings)}


def settings() -> dict:
    return get_host().settings(NAME)


def threshold_for(delivery_code: str | None, conf: dict | None = None) -> int | None:
    conf = conf if conf is not None else settings()
    if not delivery_code:
        return None
    value = conf.get("thresholds")
    try:
        thresholds = _parsed_text(value, _currency()) if isinstance(value, str) else parse_thresholds(value)
        return thresholds.get(delivery_code)
    except ValidationFailed:  # a hand-edited bad setting disables the offer rather than breaking carts
        current_app.logger.warning("free_shipping: invalid thresholds setting %r", conf.get("thresholds"))
        return None


def region_excluded(address: dict | None, conf: dict | None = None) -> bool:
    conf = conf if conf is not None else settings()
    if not address:
        return False
    return _norm_region(address.get("province", "")) in excluded_regions(conf)


def basis_amount(lines, subtotal: int, others: list, basis: str) -> int:
    """What the threshold is compared with (see the module docstring)."""
    if basis == "before":
        return subtotal
    discounts = [a for a in others if a.kind == "discount" and int(a.amount) < 0
                 and int(a.order) < SHIPPING_ORDER]
    discounted, _applied = apply_adjustments(list(lines), discounts, None)
    return sum(line.paid for line in discounted)


def progress(delivery_code: str | None, amount: int, conf: dict | None = None) -> Progress | None:
    threshold = threshold_for(delivery_code, conf)
    if threshold is None:
        return None
    return Progress(threshold=threshold, basis_amount=amount, reached=amount >= threshold)


def shipping_adjustment(lines, subtotal, delivery, address, others) -> Adjustment | None:
    """The "Free shipping" adjustment for this cart delivered to ``address``, or None."""
    if delivery is None or int(delivery.fee) <= 0:
        return None
    conf = settings()
    if region_excluded(address, conf):
        return None
    state = progress(delivery.code, basis_amount(lines, subtotal, flatten(others), conf.get("basis")), conf)
    if state is None or not state.reached:
        return None
    return Adjustment(code="free_shipping", label=_("Free shipping"), amount=-int(delivery.fee), source=NAME,
                      kind="shipping", order=SHIPPING_ORDER, data={"threshold": state.threshold})


def breakdown_progress(breakdown) -> Progress | None:
    """Progress of a priced cart (cart page, product page hint)."""
    if breakdown is None or not breakdown.lines or not breakdown.shipping:
        return None
    if any(a.source == NAME for a in breakdown.adjustments):
        return Progress(threshold=0, basis_amount=0, reached=True)
    conf = settings()
    amount = breakdown.subtotal if conf.get("basis") == "before" else breakdown.subtotal - breakdown.discount_total
    state = progress(breakdown.delivery_code, amount, conf)
    if state is not None and state.reached:
        # Reached on paper but not applied: the region is excluded (or the fee was waived otherwise).
        return None
    return state

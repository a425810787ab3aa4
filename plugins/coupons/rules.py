"""What a coupon is worth on a cart: pure functions of the coupon and the priced lines.

Eligible lines are the whole cart, or the selected products, minus presale
lines (an offer set a ``ship_promise`` or ``group``) and already-discounted
lines (the SKU has a ``compare_at_price`` above its price) when the coupon
excludes them. The minimum spend and every threshold are compared with the
eligible lines' subtotal. The result is what the coupon *asks* for; the core
caps it at what the lines still cost, so a total never goes below zero.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from storefront.i18n import format_money, gettext as _
from storefront.money import percent_of


def normalize_code(raw) -> str:
    """Case-, space- and full-width-insensitive: NFKC, upper case, no whitespace at all."""
    text = unicodedata.normalize("NFKC", raw if isinstance(raw, str) else "")
    return "".join(text.split()).upper()


@dataclass(frozen=True)
class Evaluation:
    discount: int  # minor units asked for (0 = not applicable)
    sku_ids: tuple[int, ...]
    eligible_subtotal: int
    reason: str | None = None  # why it does not apply, shown to the buyer

    @property
    def applies(self) -> bool:
        return self.reason is None


def is_presale(line) -> bool:
    return bool(line.ship_promise or line.group)


def is_discounted(line, sku) -> bool:
    compare = getattr(sku, "compare_at_price", None) if sku is not None else None
    return bool(compare and compare > line.unit_price)


def eligible_lines(coupon, lines, skus: dict) -> list:
    products = {int(p) for p in (coupon.product_ids or [])}
    chosen = []
    for line in lines:
        if products and line.product_id not in products:
            continue
        if coupon.exclude_presale and is_presale(line):
            continue
        if coupon.exclude_discounted and is_discounted(line, skus.get(line.sku_id)):
            continue
        chosen.append(line)
    return chosen


def face_value(coupon, spend: int) -> int:
    """The discount the coupon gives on ``spend`` (shipping coupons: 0, they cancel the fee)."""
    if coupon.kind == "percent":
        off = percent_of(spend, int(coupon.percent_bp or 0))
        return min(off, coupon.max_discount) if coupon.max_discount else off
    if coupon.kind == "fixed":
        return int(coupon.amount or 0)
    if coupon.kind == "tiers":
        best = 0
        for threshold, off in sorted((int(t), int(o)) for t, o in (coupon.tiers or [])):
            if spend >= threshold:
                best = off
        return best
    if coupon.kind == "repeat":
        if not coupon.step:
            return 0
        off = (spend // int(coupon.step)) * int(coupon.amount or 0)
        return min(off, coupon.max_discount) if coupon.max_discount else off
    return 0


def minimum(coupon) -> int:
    """The spend below which the coupon gives nothing (min spend, or the lowest tier/step)."""
    floor = int(coupon.min_spend or 0)
    if coupon.kind == "tiers" and coupon.tiers:
        floor = max(floor, min(int(t) for t, _o in coupon.tiers))
    if coupon.kind == "repeat" and coupon.step:
        floor = max(floor, int(coupon.step))
    return floor


def evaluate(coupon, lines, skus: dict, delivery=None) -> Evaluation:
    chosen = eligible_lines(coupon, lines, skus)
    spend = sum(line.subtotal for line in chosen)
    ids = tuple(line.sku_id for line in chosen)
    if not chosen:
        return Evaluation(0, ids, 0, _("No item in your cart qualifies for this coupon."))
    floor = minimum(coupon)
    if spend < floor:
        return Evaluation(0, ids, spend, _("Spend %(amount)s more on qualifying items to use this coupon.",
                                           amount=format_money(floor - spend)))
    if coupon.kind == "shipping":
        fee = int(getattr(delivery, "fee", 0) or 0)
        if fee <= 0:
            return Evaluation(0, ids, spend, _("This delivery option has no fee to waive."))
        return Evaluation(fee, ids, spend)
    off = min(face_value(coupon, spend), spend)
    if off <= 0:
        return Evaluation(0, ids, spend, _("This coupon gives no discount on your cart."))
    return Evaluation(off, ids, spend)


def describe(coupon) -> str:
    """A plain-language rule shown to buyers and staff (DOMAIN §4: rules must be unambiguous)."""
    m = format_money
    if coupon.kind == "percent":
        pct = f"{coupon.percent_bp / 100:g}"
        text = _("%(pct)s%% off", pct=pct)
        if coupon.max_discount:
            text = _("%(pct)s%% off, at most %(cap)s", pct=pct, cap=m(coupon.max_discount))
    elif coupon.kind == "fixed":
        text = _("%(amount)s off", amount=m(coupon.amount))
    elif coupon.kind == "tiers":
        text = "; ".join(_("spend %(spend)s, get %(off)s off", spend=m(int(t)), off=m(int(o)))
                         for t, o in sorted((int(t), int(o)) for t, o in (coupon.tiers or [])))
    elif coupon.kind == "repeat":
        text = _("%(off)s off every %(step)s spent", off=m(coupon.amount), step=m(coupon.step))
        if coupon.max_discount:
            text = _("%(off)s off every %(step)s spent, at most %(cap)s", off=m(coupon.amount),
                     step=m(coupon.step), cap=m(coupon.max_discount))
    else:
        text = _("Free shipping")
    if coupon.min_spend:
        text = _("%(rule)s (minimum spend %(min)s)", rule=text, min=m(coupon.min_spend))
    return text

"""The one pricing function and the breakdown it produces.

Cart, checkout, order page, e-mails and API all show a :class:`Breakdown`;
for a cart it comes from :func:`price_cart`, for a placed order from
:func:`order_breakdown` (the stored snapshot). Never compute a total elsewhere.

How a cart is priced (documented because buyers and plugins depend on it):

1. Each line's unit price is the SKU price unless a ``product_offer`` names
   another one (first non-None wins); availability is the lowest of the SKU
   stock and every offer's ``available``.
2. The delivery fee is the chosen ``delivery_options`` result's fee.
3. ``cart_adjustments`` results are applied in ascending ``Adjustment.order``
   (ties keep plugin order). A discount is capped at what its lines still
   cost after earlier discounts, and spread over those lines by largest
   remainder, so no line is ever paid below zero and each line knows exactly
   what the buyer paid for it. A negative ``shipping`` adjustment is capped
   at the shipping still charged. Positive amounts are fees and are not
   spread over lines. The total therefore never goes below zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from flask import current_app
from sqlalchemy import inspect as sa_inspect

from ..errors import ValidationFailed
from ..i18n import gettext as _
from ..money import Money, allocate_capped
from ..plugins import PRESELECTED
from ..plugins.host import flatten, get_host


@dataclass(frozen=True)
class PricedLine:
    sku_id: int
    product_id: int
    product_name: str
    product_slug: str
    sku_code: str
    sku_label: str
    unit_price: int
    quantity: int
    subtotal: int
    badges: tuple = ()
    ship_promise: str | None = None
    group: str | None = None
    available: int | None = None
    image: str | None = None
    problem: str | None = None  # e.g. "only 2 left" — shown next to the line
    #: This line's share of every discount (positive = money off); ``subtotal - discount`` is paid.
    discount: int = 0
    #: A plugin reserves this line's quantity itself (``Offer.own_stock``): spot stock is not touched.
    own_stock: bool = False

    @property
    def paid(self) -> int:
        return self.subtotal - self.discount

    def to_json(self) -> dict:
        return {
            "sku_id": self.sku_id, "product_id": self.product_id, "product_name": self.product_name,
            "sku_code": self.sku_code, "sku_label": self.sku_label, "unit_price": self.unit_price,
            "quantity": self.quantity, "subtotal": self.subtotal, "discount": self.discount,
            "paid": self.paid, "ship_promise": self.ship_promise, "group": self.group,
            "badges": [getattr(b, "text", str(b)) for b in self.badges], "problem": self.problem,
        }


@dataclass(frozen=True)
class AdjustmentLine:
    code: str
    label: str
    amount: int  # signed minor units: negative = money off
    source: str
    kind: str = "discount"  # discount | shipping
    allocation: dict = field(default_factory=dict)  # sku_id (cart) / line id (order) -> share
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Breakdown:
    currency: str
    lines: tuple[PricedLine, ...]
    subtotal: int
    adjustments: tuple[AdjustmentLine, ...]
    shipping: int | None  # delivery fee before shipping adjustments; None = not chosen yet
    total: int
    delivery_code: str | None = None
    delivery_label: str | None = None

    @property
    def discount_total(self) -> int:
        return -sum(a.amount for a in self.adjustments if a.kind == "discount")

    @property
    def problems(self) -> list[tuple[PricedLine, str]]:
        return [(line, line.problem) for line in self.lines if line.problem]

    def to_json(self) -> dict:
        def m(amount: int | None):
            return None if amount is None else Money(int(amount), self.currency).to_json()

        return {
            "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "subtotal": m(self.subtotal),
            "adjustments": [
                {"code": a.code, "label": str(a.label), "amount": m(a.amount), "source": a.source, "kind": a.kind}
                for a in self.adjustments
            ],
            "shipping": m(self.shipping),
            "total": m(self.total),
            "delivery": {"code": self.delivery_code, "label": self.delivery_label} if self.delivery_code else None,
        }


# --- offers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CombinedOffer:
    """Every plugin's ``product_offer`` for one SKU, combined as the hookspec documents."""

    badges: tuple = ()
    price: int | None = None
    available: int | None = None
    ship_promise: str | None = None
    group: str | None = None
    blocked_reason: str | None = None
    #: Any offer said ``own_stock``: that plugin's ``available`` replaces the spot stock.
    own_stock: bool = False


def combine_offers(offers: Iterable[Any]) -> CombinedOffer:
    badges: list = []
    price = available = ship_promise = group = blocked = None
    own_stock = False
    for offer in offers:
        own_stock = own_stock or bool(getattr(offer, "own_stock", False))
        badges.extend(offer.badges or ())
        if price is None and offer.price is not None:
            price = int(offer.price)
        if offer.available is not None:
            available = int(offer.available) if available is None else min(available, int(offer.available))
        ship_promise = ship_promise if ship_promise is not None else offer.ship_promise
        group = group if group is not None else offer.group
        blocked = blocked if blocked is not None else offer.blocked_reason
    return CombinedOffer(tuple(badges), price, available, ship_promise, group, blocked, own_stock)


def offer_for(product, sku, buyer) -> CombinedOffer:
    """The combined offer for ``sku``; hooks that affect money are not wrapped: errors fail loudly."""
    return combine_offers(flatten(get_host().hook.product_offer(product=product, sku=sku, buyer=buyer)))


def sku_availability(sku, offer: CombinedOffer) -> int:
    """How many of ``sku`` can be bought now: stock, lowered by any plugin limit.

    For an ``own_stock`` offer the plugin's count is the stock (a presale
    quota is sold while spot stock is zero).
    """
    if offer.own_stock and offer.available is not None:
        return max(int(offer.available), 0)
    stock = max(int(sku.stock or 0), 0)
    return stock if offer.available is None else max(min(stock, offer.available), 0)


# --- pricing -------------------------------------------------------------------------------


def delivery_options_for(cart, address, buyer, wanted: str | None = None) -> list:
    """The cart's delivery options; with ``wanted`` (a chosen code), at least that one if offered."""
    return flatten(get_host().hook.delivery_options(cart=cart, address=address, buyer=buyer, wanted=wanted))


def choose_delivery(options: list, delivery_code: str | None, remembered: str | None = None):
    """The option named ``delivery_code``; without one, the remembered choice or the first option.

    An explicit unknown code is refused rather than silently replaced.
    """
    by_code = {o.code: o for o in options}
    if delivery_code:
        if delivery_code not in by_code:
            raise ValidationFailed(_("Choose one of the delivery options shown."), field="delivery_code")
        return by_code[delivery_code]
    if remembered and remembered in by_code:
        return by_code[remembered]
    return options[0] if options else None


def remembered_delivery(cart) -> str | None:
    """The delivery code the cart remembers (``cart.data["delivery_code"]``), if any."""
    return (cart.data or {}).get("delivery_code") if cart is not None else None


def chosen_delivery(cart, address, buyer, delivery_code: str | None = None):
    """The option ``cart`` is priced with, asking the plugins for that one only.

    As :func:`choose_delivery` over every option: ``delivery_code`` (refused when
    not offered), else the cart's remembered choice while it is offered, else the
    first option. Pricing needs no other: store pickup's option alone reads every
    store's stock of the cart's SKUs, a tenth of a cart page that shows the courier.
    """
    remembered = remembered_delivery(cart)
    wanted = delivery_code or remembered
    if wanted:
        options = delivery_options_for(cart, address, buyer, wanted)
        if delivery_code or any(option.code == wanted for option in options):
            return choose_delivery(options, delivery_code, remembered)
    return choose_delivery(delivery_options_for(cart, address, buyer, PRESELECTED), None)


def priced_lines(cart, buyer) -> list[PricedLine]:
    lines = []
    if cart.lines:  # one look-up per plugin for every line, not one per line
        get_host().hook.prefetch_offers(skus=[line.sku for line in cart.lines], buyer=buyer)
    for cart_line in cart.lines:
        sku = cart_line.sku
        product = sku.product
        offer = offer_for(product, sku, buyer)
        unit_price = offer.price if offer.price is not None else int(sku.price)
        available = sku_availability(sku, offer)
        problem = None
        if not (product.active and sku.active):
            problem = _("No longer available")
        elif offer.blocked_reason:
            problem = str(offer.blocked_reason)
        elif available <= 0:
            problem = _("Sold out")
        elif cart_line.quantity > available:
            problem = _("Only %(n)s left", n=available)
        # Only when the images are loaded already: no cart view shows them, and loading
        # them here would be one query per product.
        cover = None if "images" in sa_inspect(product).unloaded else product.cover
        lines.append(PricedLine(
            sku_id=sku.id, product_id=product.id, product_name=product.name, product_slug=product.slug,
            sku_code=sku.code, sku_label=sku.label, unit_price=unit_price, quantity=cart_line.quantity,
            subtotal=unit_price * cart_line.quantity, badges=offer.badges, ship_promise=offer.ship_promise,
            group=offer.group, available=available, image=cover.filename if cover else None, problem=problem,
            own_stock=offer.own_stock,
        ))
    return lines


def apply_adjustments(lines: list[PricedLine], adjustments: list, shipping: int | None
                      ) -> tuple[list[PricedLine], list[AdjustmentLine]]:
    """Apply ``adjustments`` (plugin Adjustment objects) in order; see the module docstring."""
    remaining = {line.sku_id: line.subtotal for line in lines}
    shipping_left = shipping or 0
    applied: list[AdjustmentLine] = []
    ordered = sorted(enumerate(adjustments), key=lambda pair: (int(pair[1].order), pair[0]))
    for _index, adj in ordered:
        amount = int(adj.amount)
        allocation: dict = {}
        if adj.kind == "shipping":
            if amount < 0:
                amount = -min(-amount, shipping_left)
            shipping_left += amount
        elif amount < 0:
            eligible = [sku for sku in remaining if adj.lines is None or sku in set(adj.lines)]
            weights = [remaining[sku] for sku in eligible]
            parts = allocate_capped(-amount, weights) if eligible else []
            amount = -sum(parts)
            for sku, part in zip(eligible, parts):
                if part:
                    remaining[sku] -= part
                    allocation[sku] = part
        applied.append(AdjustmentLine(code=adj.code, label=str(adj.label), amount=amount, source=adj.source,
                                      kind=adj.kind, allocation=allocation, data=dict(adj.data or {})))
    discounted = []
    for line in lines:
        share = line.subtotal - remaining[line.sku_id]
        # A line whose share is unchanged (no discount: most lines) is the same frozen line;
        # dataclasses.replace() re-runs the constructor through every field.
        discounted.append(line if line.discount == share else replace(line, discount=share))
    return discounted, applied


def price_cart(cart, buyer, delivery_code: str | None = None, address=None, *,
               options: list | None = None) -> Breakdown:
    """Price ``cart`` for ``buyer``: THE pricing function (cart page, checkout, API, placing).

    ``delivery_code`` picks a delivery option; without it the cart's remembered
    choice (``cart.data["delivery_code"]``) or the first option is used, so
    the cart and checkout pages show the same total. ``address`` is passed to
    ``delivery_options`` (a dict of address fields or ``None``); ``options``
    are those options when the caller already asked for them (the checkout),
    else only the chosen one is asked for (:func:`chosen_delivery`).
    """
    currency = current_app.config["STOREFRONT_CURRENCY"]
    lines = priced_lines(cart, buyer) if cart is not None else []
    subtotal = sum(line.subtotal for line in lines)
    if not lines:
        chosen = None
    elif options is None:
        chosen = chosen_delivery(cart, address, buyer, delivery_code)
    else:
        chosen = choose_delivery(options, delivery_code, remembered_delivery(cart))
    shipping = int(chosen.fee) if chosen is not None else None
    raw = []
    if lines:
        raw = flatten(get_host().hook.cart_adjustments(cart=cart, lines=tuple(lines), subtotal=subtotal,
                                                      buyer=buyer, delivery=chosen, address=address))
    lines, adjustments = apply_adjustments(lines, raw, shipping)
    total = subtotal + sum(a.amount for a in adjustments) + (shipping or 0)
    return Breakdown(currency=currency, lines=tuple(lines), subtotal=subtotal, adjustments=tuple(adjustments),
                     shipping=shipping, total=max(total, 0),
                     delivery_code=chosen.code if chosen else None,
                     delivery_label=str(chosen.label) if chosen else None)


def split_breakdown(breakdown: Breakdown, sku_ids: Iterable[int], *, carries_shipping: bool) -> Breakdown:
    """The part of ``breakdown`` that one order of a split checkout carries.

    Lines keep their allocated discounts; each discount contributes the
    shares of this order's lines; shipping, shipping adjustments and fees go
    to the one order that ``carries_shipping`` (so the orders add up exactly
    to the checkout total).
    """
    wanted = set(sku_ids)
    lines = tuple(line for line in breakdown.lines if line.sku_id in wanted)
    adjustments = []
    for adj in breakdown.adjustments:
        if adj.allocation:
            share = {sku: part for sku, part in adj.allocation.items() if sku in wanted}
            if share:
                adjustments.append(replace(adj, amount=-sum(share.values()), allocation=share))
        elif carries_shipping:
            adjustments.append(adj)
    subtotal = sum(line.subtotal for line in lines)
    shipping = (breakdown.shipping if carries_shipping else (0 if breakdown.shipping is not None else None))
    total = subtotal + sum(a.amount for a in adjustments) + (shipping or 0)
    return replace(breakdown, lines=lines, subtotal=subtotal, adjustments=tuple(adjustments),
                   shipping=shipping, total=total)


def order_breakdown(order) -> Breakdown:
    """The stored breakdown of a placed order (identical to what was shown at checkout)."""
    lines = tuple(
        PricedLine(
            sku_id=line.sku_id or 0, product_id=line.product_id or 0, product_name=line.product_name,
            product_slug="", sku_code=line.sku_code, sku_label=line.sku_label, unit_price=line.unit_price,
            quantity=line.quantity, subtotal=line.line_subtotal,
            ship_promise=(line.data or {}).get("ship_promise"), group=(line.data or {}).get("group"),
            discount=line.discount or 0,
        )
        for line in order.lines
    )
    adjustments = tuple(
        AdjustmentLine(code=a.code, label=a.label, amount=a.amount, source=a.source, kind=a.kind,
                       allocation=dict(a.allocation or {}), data=dict(a.data or {}))
        for a in order.adjustments
    )
    return Breakdown(currency=order.currency, lines=lines, subtotal=order.subtotal, adjustments=adjustments,
                     shipping=order.shipping_total, total=order.total, delivery_code=order.delivery_code,
                     delivery_label=order.delivery_label)

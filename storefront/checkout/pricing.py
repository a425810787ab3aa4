"""The one pricing function and the breakdown it produces.

Cart, checkout, order page, e-mails and API all show a :class:`Breakdown`;
for a cart it comes from :func:`price_cart`, for a placed order from
:func:`order_breakdown` (the stored snapshot). Never compute a total elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field


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

    def to_json(self) -> dict:
        from ..money import Money

        def m(amount: int | None):
            return None if amount is None else Money(int(amount), self.currency).to_json()

        return {
            "currency": self.currency,
            "subtotal": m(self.subtotal),
            "adjustments": [
                {"code": a.code, "label": str(a.label), "amount": m(a.amount), "source": a.source, "kind": a.kind}
                for a in self.adjustments
            ],
            "shipping": m(self.shipping),
            "total": m(self.total),
            "delivery": {"code": self.delivery_code, "label": self.delivery_label} if self.delivery_code else None,
        }


def order_breakdown(order) -> Breakdown:
    """The stored breakdown of a placed order (identical to what was shown at checkout)."""
    lines = tuple(
        PricedLine(
            sku_id=line.sku_id or 0, product_id=line.product_id or 0, product_name=line.product_name,
            product_slug="", sku_code=line.sku_code, sku_label=line.sku_label, unit_price=line.unit_price,
            quantity=line.quantity, subtotal=line.line_subtotal,
            ship_promise=(line.data or {}).get("ship_promise"),
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

"""Buy now (立即购买, "Mua ngay"): one SKU straight to an order, the buyer's cart untouched.

A flash-sale buyer does not shop a cart: they tap "Buy now" on the item,
confirm delivery (and a coupon) and pay. :func:`buy_now` places that checkout
in one request through the same pricing, hooks and write transaction as a
cart checkout (:func:`~storefront.checkout.services.place_order`), on a
*transient* cart holding the one line. Nothing is stored for that cart: a
refused buy-now writes nothing, a placed one writes only the order, and the
buyer's own cart keeps what it had.
"""
from __future__ import annotations

from sqlalchemy.orm.attributes import set_committed_value

from ..cart.models import Cart, CartLine
from ..cart.services import buyable_sku, check_stock, parse_quantity, parse_sku_id
from ..errors import ServiceError
from ..plugins.host import get_host
from .services import CheckoutResult, clean_extra, clean_idempotency_key, find_checkout, place_order


def direct_cart(buyer, sku_id, quantity, extra: dict | None = None) -> Cart:
    """A transient cart of ``quantity`` × SKU ``sku_id`` for ``buyer``, checked as an add to
    cart is (known, active, not blocked, in stock, within the line limit), with the plugins'
    buy-now choices applied (``buy_now_cart``). Raises a ServiceError naming the field."""
    sku_id = parse_sku_id(sku_id)
    quantity = parse_quantity(quantity)
    sku, available = buyable_sku(sku_id, buyer)
    check_stock(sku, available, quantity)
    # Never added to the session, and its relationships are set without events: no
    # cascade can put it (or its line) into a flush.
    cart = Cart(user_id=buyer.id, data={})
    line = CartLine(sku_id=sku.id, quantity=quantity)
    set_committed_value(line, "sku", sku)
    set_committed_value(cart, "lines", [line])
    get_host().hook.buy_now_cart(cart=cart, buyer=buyer, extra=clean_extra(extra))
    return cart


def buy_now(buyer, *, sku_id, quantity, idempotency_key, extra: dict | None = None,
            **checkout) -> CheckoutResult:
    """Place ``quantity`` × SKU ``sku_id`` as one checkout (see the module docstring).

    ``checkout`` are :func:`place_order`'s delivery, address and note arguments.
    Idempotent by key like a cart checkout: a repeated submission answers with the
    first checkout, even once the item has sold out meanwhile.
    """
    key = clean_idempotency_key(idempotency_key)
    try:
        cart = direct_cart(buyer, sku_id, quantity, extra)
    except ServiceError:
        existing = find_checkout(buyer, key)
        if existing is not None:
            return existing
        raise
    return place_order(buyer, idempotency_key=key, cart=cart, extra=extra, **checkout)


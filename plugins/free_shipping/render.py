"""Buyer-facing hints: progress towards free shipping in the cart and on product pages."""
from __future__ import annotations

import time

from flask import current_app, render_template
from markupsafe import Markup

from storefront.caching import ExpiringLRU
from storefront.context_objects import signed_in_user
from storefront.settings import config_digest

from .services import breakdown_progress, region_names, settings

#: How long a product page may reuse the cart's hint (pricing depends on the clock, e.g. a
#: presale price that starts now); everything else it depends on is in the key.
MINI_HINT_SECONDS = 30
MINI_HINT_ENTRIES = 2048
_NO_HINT = object()
#: The TTL's clock; tests patch it.
_now = time.monotonic


def cart_hint(breakdown) -> Markup | None:
    state = breakdown_progress(breakdown)
    if state is None:
        return None
    return Markup(render_template("free_shipping/hint.html", state=state, mini=False,
                                  regions=region_names(settings())))


def mini_hint() -> Markup | None:
    """The hint for the buyer's current cart (product pages); nothing without a cart.

    A signed-in buyer browsing with a cart would otherwise price the whole cart
    through every plugin (about 7 statements) on each product page. The progress
    is kept per cart content: lines, the cart's plugin choices (coupon, delivery),
    the buyer and the shop's settings/plugin-state digest, which changes with
    any catalog edit (``page_cache_version``) -- so only what changes outside
    the cart and the catalog (the clock starting a presale price, a coupon
    claimed into the wallet) can be up to ``MINI_HINT_SECONDS`` late on this hint.
    The key comes from one light query (``cart_contents``); the cart itself, its
    SKUs and products, is loaded only to price it.
    """
    from storefront.cart.services import cart_contents, contents_of, get_cart
    from storefront.checkout.pricing import price_cart

    contents = cart_contents()
    if contents is None or not contents.lines:
        return None
    buyer = signed_in_user()
    state = _remembered(_key(contents, buyer))
    if state is None:
        cart = get_cart(create=False)
        contents = contents_of(cart)
        if contents is None or not contents.lines:  # emptied since the light read
            return None
        state = breakdown_progress(price_cart(cart, buyer))
        _remember(_key(contents, buyer), _NO_HINT if state is None else state)
    if state is None or state is _NO_HINT:
        return None
    return Markup(render_template("free_shipping/hint.html", state=state, mini=True, regions=[]))


def _key(contents, buyer) -> tuple:
    return (contents.id, buyer.id if buyer is not None else None, contents.lines,
            repr(sorted(contents.data.items())), config_digest())


def _memo() -> ExpiringLRU:
    # Per app: tests (and a host app) may run several shops, each with its own cart ids.
    return current_app.extensions.setdefault("free_shipping_mini_hints", ExpiringLRU())


def _remembered(key):
    return _memo().get(key, _now())


def _remember(key, state) -> None:
    _memo().put(key, state, expires=_now() + MINI_HINT_SECONDS, max_entries=MINI_HINT_ENTRIES)

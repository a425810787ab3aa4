"""SQL statements per request on the hot pages (issue 9): pinned counts, not timings."""
from __future__ import annotations

from unittest import mock

from plugins.presale import reuse as presale_reuse
from plugins.store_pickup import reuse as pickup_reuse
from storefront import config_reuse
from tests.checkout.helpers import api_token
from tests.conftest import new_client
from tests.factories import sign_in

from .conftest import count_queries, give_cart


def _get_twice(app, path, user=None, headers=None):
    """The statements of a first and a second request: the first fills per-process caches
    (templates, the popups' and claimables' version-stamped caches, the worker's read of
    the settings and plugin states, its copies of the presale look-ups and of the pickup
    stores and slots), as a running shop
    has them. The clock stands still between the two."""
    client = new_client(app)
    if user is not None:
        sign_in(client, user)
    with mock.patch.object(config_reuse, "_now", lambda: 1000.0), \
            mock.patch.object(presale_reuse, "_now", lambda: 1000.0), \
            mock.patch.object(pickup_reuse, "_now", lambda: 1000.0):
        with count_queries() as first:
            client.get(path, headers=headers or {})
        with count_queries() as seen:
            response = client.get(path, headers=headers or {})
    return first, response, seen


def _get(app, path, user=None, headers=None):
    """The second request's statements (:func:`_get_twice`)."""
    _first, response, seen = _get_twice(app, path, user, headers)
    return response, seen


def test_product_page(app, shop):
    product = shop["presale"]
    first, response, seen = _get_twice(app, f"/products/{product.slug}")
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 200 and "Presale" in response.get_data(as_text=True)
    assert not seen.matching(r"FROM plugin_states")  # the first request's read, reused
    # One campaign query for the product's four SKUs, not one per SKU; the next view of
    # the worker takes them from its copies.
    assert len(first.matching(r"FROM presale_campaigns")) == 1
    assert not seen.matching(r"FROM presale_campaigns")
    assert not seen.matching(r"^SELECT skus\.")  # joined into the product's query
    assert not seen.matching(r"^SELECT settings\.")  # read with the plugin states (one round trip)
    assert not seen.matching(r"FROM coupons_coupons")  # the claim box: per-process, version-stamped
    # The description is deferred on Product, and undeferred in the product's own query.
    assert product.description and product.description in response.get_data(as_text=True)
    assert len(seen.matching(r"products\.description")) == 1
    assert len(seen.matching(r"^SELECT products\.description FROM")) == 0  # no lazy load after
    assert len(seen) <= 4


def test_listing_and_cart_leave_the_description_out(app, shop):
    # A seller's description runs to kilobytes; a listing of 24 products or a cart's lines
    # does not show it and must not carry it along.
    buyer = shop["buyer"]
    give_cart(buyer, [shop["presale"].skus[0], *[p.skus[0] for p in shop["plain"][:2]]])
    for path, user in (("/products", None), ("/cart/", buyer), ("/checkout/", buyer)):
        response, seen = _get(app, path, user)
        assert response.status_code == 200, path
        assert not seen.matching(r"description"), (path, seen.matching(r"description"))


def test_cart_page_with_five_lines(app, shop):
    buyer = shop["buyer"]
    give_cart(buyer, [shop["presale"].skus[0], *[p.skus[0] for p in shop["plain"][:4]]])
    first, response, seen = _get_twice(app, "/cart/", buyer)
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 200 and "Presale jacket" in response.get_data(as_text=True)
    assert len(seen.matching(r"FROM carts\b")) == 1  # the coupon box reuses the page's cart
    assert not seen.matching(r"FROM plugin_states")
    assert len(first.matching(r"FROM presale_campaigns")) == 1  # prefetch_offers: one for all lines
    assert not seen.matching(r"FROM presale_campaigns")  # the worker's copies
    assert len(seen.matching(r"FROM coupons_wallet")) == 1
    assert not seen.matching(r"^SELECT cart_lines\.")  # joined into the cart's query
    assert not seen.matching(r"FROM product_images")  # no cart view shows them
    assert not seen.matching(r"^SELECT settings\.")
    assert not seen.matching(r"FROM coupons_coupons")
    # Priced with the courier, which comes first: no store's stock is read (the checkout page
    # lists pickup, below).
    assert not seen.matching(r"store_pickup")
    assert len(seen) <= 7


def test_checkout_page_with_five_lines(app, shop):
    buyer = shop["buyer"]
    give_cart(buyer, [p.skus[0] for p in shop["plain"]])
    held = app.extensions.get(pickup_reuse.EXTENSION_KEY)
    if held is not None:  # the app outlives a test: its first page reads the stores
        held.clear()
    first, response, seen = _get_twice(app, "/checkout/", buyer)
    print(len(seen), *seen, sep="\n")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "store_pickup_slot" in html
    assert len(seen.matching(r"FROM carts\b")) == 1
    # The first page reads the stores with their stock (one query) and the slots' bookings;
    # the next takes them from the worker's copies.
    assert len(first.matching(r"FROM store_pickup_locations")) == 1
    assert len(first.matching(r"FROM store_pickup_slot_usage")) <= 1
    assert not first.matching(r"^SELECT store_pickup_location_stock\.")  # joined to the stores
    assert not seen.matching(r"FROM store_pickup_")
    assert len(seen.matching(r"FROM coupons_wallet")) == 1
    assert not seen.matching(r"FROM presale_campaigns")  # the worker's copies
    assert not seen.matching(r"^SELECT cart_lines\.")
    assert not seen.matching(r"^SELECT settings\.")
    assert not seen.matching(r"FROM coupons_coupons")
    assert len(seen) <= 8


def test_bearer_token_is_one_query(app, shop):
    """The first request of a token reads it with its user; the next one builds both from the
    worker's copy (storefront/identity_reuse.py)."""
    headers = api_token(shop["buyer"])
    with count_queries() as first:
        assert new_client(app).get("/api/v1/me", headers=headers).status_code == 200
    assert len(first.matching(r"FROM api_tokens")) == 1
    assert not first.matching(r"FROM users WHERE users.id")  # the user came joined with the token
    response, seen = _get(app, "/api/v1/me", headers=headers)
    assert response.status_code == 200 and response.get_json()["email"] == shop["buyer"].email
    assert not seen.matching(r"FROM api_tokens") and not seen.matching(r"FROM users")


def test_bad_token_still_401_in_one_query(app, shop):
    response, seen = _get(app, "/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert len(seen.matching(r"FROM api_tokens")) == 1

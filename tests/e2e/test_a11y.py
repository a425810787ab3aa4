"""Accessibility (axe-core: no serious or critical violation) of the shop's pages, desktop and phone.

The journeys check every page they pass through; this sweeps the pages no
journey visits in the states a visitor, a buyer and staff see them. Each page
must also fit the screen (no sideways scrolling on a phone).
"""
from __future__ import annotations

import pytest

PUBLIC = ["/", "/products", "/c/knitwear", "/products?q=linen", "/products/lightweight-down-jacket",
          "/products/cashmere-blend-turtleneck", "/cart/", "/account/login", "/account/register",
          "/pickup/stores", "/p/tracking/lookup"]
BUYER = ["/orders/", "/account/", "/account/messages", "/account/addresses", "/account/password",
         "/account/profile", "/account/refunds/", "/account/store-credit/", "/p/coupons/wallet"]
STAFF = ["/admin/", "/admin/orders", "/admin/products", "/admin/products/new", "/admin/categories",
         "/admin/presale/", "/admin/coupons/", "/admin/coupons/new", "/admin/popups/", "/admin/pickup/",
         "/admin/aftersales/", "/admin/tracking/carriers", "/admin/tracking/stuck"]
OWNER = ["/admin/plugins", "/admin/settings", "/admin/audit"]


def test_public_pages(tab, shop):
    page = tab()
    # The demo's popup opens three seconds after the home page loads (once a day): the page is
    # pictured before, and checked with the dialog open.
    page.goto("/", a11y=False)
    page.screenshot("home")
    page.page.locator(".pp-overlay:not([hidden]) [role=dialog]").wait_for(state="visible")
    page.check_a11y()
    page.page.keyboard.press("Escape")
    for path in PUBLIC[1:]:
        page.goto(path)
    page.goto("/products/no-such-product", status=404)


def test_buyer_pages(tab, shop):
    page = tab()
    page.sign_in(*shop.demo_buyer)
    for path in BUYER:
        page.goto(path)
    # The demo buyer's history: an order of each status, with its panels.
    for order in shop.orders_of(shop.demo_buyer[0]):
        page.goto(f"/orders/{order.number}")
    page.goto("/checkout/")  # an empty cart's checkout


@pytest.mark.parametrize("device", ["desktop"], indirect=True)
def test_staff_pages(tab, shop):
    """The admin at desktop width (staff work at a desk; the phone view is the shop's)."""
    page = tab()
    page.sign_in(*shop.demo_owner)
    for path in STAFF + OWNER:
        page.goto(path)
    for order in shop.orders_of(shop.demo_buyer[0])[:3]:
        page.goto(f"/admin/orders/{order.number}")
    product = shop.product("lightweight-down-jacket")
    page.goto(f"/admin/products/{product.id}")


def test_staff_cannot_be_reached_by_a_buyer(tab, shop):
    page = tab()
    page.sign_in_user(shop.make_buyer())
    page.goto("/admin/orders", status=403)

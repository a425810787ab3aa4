"""Journey 1: popup coupon, presale + in-stock cart, free-shipping nudge, split checkout, pay, track.

And the same checkout by keyboard only (Tab, Enter, Space), from the cart to a paid order; and a
buy-now (立即购买) of a presale item with a typed code, which leaves the cart as it was.
"""
from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD

TEE = "everyday-cotton-crew-tee"           # in stock, ¥59
PRESALE = "cashmere-blend-turtleneck"      # sold out, on full-payment presale (¥479)
ADDRESS = {"name": "Chen Jing", "phone": "13912345678", "province": "Zhejiang", "city": "Hangzhou",
           "district": "Xihu", "line1": "No. 18 Wensan Road, Room 502", "postcode": "310012"}


def welcome_popup(shop):
    """A claimable ¥10 coupon with a code, announced by a popup on the home page (shown at once)."""
    from plugins.coupons import admin_services as coupons_admin
    from plugins.promo_popups import services as popups

    with shop.ctx():
        coupons_admin.create_coupon({"name": "¥10 welcome", "kind": "fixed", "amount": 1000, "code": "WELCOME10",
                                     "claimable": True, "claim_quota": 100, "per_buyer_limit": 1})
        popups.create_popup({"title": "Welcome: ¥10 off your first order", "body": "<p>Claim it now.</p>",
                             "pages": ["home"], "frequency": "always", "trigger": "load", "priority": 100,
                             "coupon_code": "WELCOME10"})
    shop.forget_caches()


def add_to_cart(page, slug: str):
    page.goto(f"/products/{slug}")
    page.page.locator("input[name=sku_id]:not([disabled])").first.check()
    page.submit("form.catalog-buy .add-to-cart")


def test_shop_journey(tab, shop):
    welcome_popup(shop)
    buyer = shop.make_buyer(name="Chen Jing")
    page = tab()
    page.sign_in(buyer.email, PASSWORD)

    # The popup announces the coupon; claiming it puts it in the buyer's wallet.
    page.goto("/")
    dialog = page.page.locator(".pp-overlay:not([hidden]) [role=dialog]")
    dialog.wait_for(state="visible")
    assert "Welcome: ¥10 off" in dialog.inner_text()
    page.check_a11y()
    page.screenshot("popup")
    page.submit(dialog.locator("[data-pp-claim]"))
    page.goto("/p/coupons/wallet")
    assert "¥10 welcome" in page.text()

    # The presale item is labelled with its exact ship promise before it goes in the cart.
    page.goto(f"/products/{PRESALE}")
    assert page.page.locator(".badge-presale").first.is_visible()
    assert page.page.locator(".catalog-buy .promise").first.is_visible()
    page.screenshot("product-presale")
    add_to_cart(page, TEE)

    # Cart: the claimed coupon is used by itself (the best in the wallet); the nudge says how much more ships free.
    page.goto("/cart/")
    coupon = page.page.locator(".coupon-box").inner_text()
    assert "¥10 welcome" in coupon and "chosen for you" in coupon, coupon
    nudge = page.page.locator("[data-free-shipping]")
    assert re.search(r"Add (CN)?¥50\.00 more for free shipping", nudge.inner_text()), nudge.inner_text()
    assert page.page.locator("progress.free-shipping-bar").is_visible()
    page.screenshot("cart")

    # The presale item joins the cart: now over the threshold, shipping is free.
    add_to_cart(page, PRESALE)
    page.goto("/cart/")
    assert "Free shipping" in page.page.locator("[data-free-shipping]").inner_text()
    page.submit(page.page.get_by_role("link", name="Checkout"))

    # Checkout announces the split into two orders before anything is paid.
    split = page.page.locator(".checkout-split")
    assert split.is_visible()
    assert "Your items will arrive in 2 orders" in split.inner_text()
    assert "This checkout becomes 2 orders" in page.page.locator(".presale-checkout").inner_text()
    for name, value in ADDRESS.items():
        page.page.fill(f"input[name={name}]", value)
    page.screenshot("checkout")
    page.submit(page.page.get_by_role("button", name="Place order and pay"))

    # One payment for both orders, with the test provider.
    assert "/pay/" in page.page.url
    assert "This payment covers 2 orders." in page.text()
    page.submit(page.page.get_by_role("button", name="Pay now (test)"))
    assert "Payment received" in page.text()
    orders = shop.orders_of(buyer.email)
    assert len(orders) == 2 and {o.status.value for o in orders} == {"paid"}
    assert len({o.payment_id for o in orders}) == 1
    in_stock = next(o for o in orders if any(line.product_name.startswith("Everyday") for line in o.lines))
    assert sum(o.discount_total for o in orders) == 1000

    # The in-stock order ships; the buyer follows it from the order page.
    shop.ship(in_stock.number, tracking_number="SF1234567890")
    page.goto(f"/orders/{in_stock.number}")
    page.submit(page.page.get_by_role("link", name="Track this order"))
    tracking = page.text()
    assert "SF1234567890" in tracking and "SF Express" in tracking
    page.screenshot("tracking")


def tab_to(page, predicate_js: str, limit: int = 80):
    """Press Tab until document.activeElement satisfies ``predicate_js`` (an expression of ``el``)."""
    for _ in range(limit):
        page.page.keyboard.press("Tab")
        if page.page.evaluate(f"(() => {{ const el = document.activeElement; return !!({predicate_js}); }})()"):
            # What has focus must show it (a visible outline or box shadow).
            visible = page.page.evaluate(
                "(() => { const s = getComputedStyle(document.activeElement);"
                " return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'; })()")
            assert visible, f"no visible focus on {page.page.evaluate('document.activeElement.outerHTML')[:200]}"
            return
    raise AssertionError(f"Tab never reached {predicate_js} on {page.page.url}")


def named(text: str) -> str:
    return f"el.textContent.trim().startsWith({text!r})"


@pytest.mark.parametrize("device", ["desktop"], indirect=True)
def test_keyboard_only_checkout(tab, shop):
    from storefront.accounts.models import Address
    from storefront.extensions import db

    buyer = shop.make_buyer(name="Keyboard Buyer")
    with shop.ctx():
        db.session.add(Address(user_id=buyer.id, is_default=True, **ADDRESS))
        db.session.commit()
    tee = shop.product(TEE).skus[0]
    page = tab()
    page.sign_in(buyer.email, PASSWORD)
    add_to_cart(page, TEE)
    assert tee.code

    # From here on: Tab, Enter and Space only.
    page.goto("/cart/")
    tab_to(page, "el.tagName === 'A' && " + named("Checkout"))
    with page.page.expect_navigation():
        page.page.keyboard.press("Enter")
    page.check_a11y()
    assert "/checkout" in page.page.url
    tab_to(page, "el.tagName === 'BUTTON' && " + named("Place order and pay"))
    with page.page.expect_navigation():
        page.page.keyboard.press("Enter")
    page.check_a11y()
    assert "/pay/" in page.page.url, page.text()[:500]
    tab_to(page, "el.tagName === 'BUTTON' && " + named("Pay now (test)"))
    with page.page.expect_navigation():
        page.page.keyboard.press("Space")
    page.check_a11y()
    assert "Payment received" in page.text()
    orders = shop.orders_of(buyer.email)
    assert [o.status.value for o in orders] == ["paid"]


def test_buy_now_journey(tab, shop):
    from storefront.accounts.models import Address
    from storefront.extensions import db

    from plugins.coupons import admin_services as coupons_admin

    buyer = shop.make_buyer(name="Buy Now Buyer")
    with shop.ctx():
        db.session.add(Address(user_id=buyer.id, is_default=True, **ADDRESS))
        db.session.commit()
        coupons_admin.create_coupon({"name": "¥30 flash", "kind": "fixed", "amount": 3000, "code": "FLASH30",
                                     "per_buyer_limit": 1})
    shop.forget_caches()
    page = tab()
    page.sign_in(buyer.email, PASSWORD)
    add_to_cart(page, TEE)  # already in the cart: buying the presale item now must not touch it

    page.goto(f"/products/{PRESALE}")
    page.page.locator("input[name=sku_id]:not([disabled])").first.check()
    page.submit("form.catalog-buy .buy-now")
    assert "/checkout/buy-now" in page.page.url
    items = page.page.locator("aside .cart-lines").inner_text()
    assert "Cashmere" in items and "Everyday" not in items, items
    page.page.fill("input[name=coupons_code]", "flash30")
    page.submit(page.page.get_by_role("button", name="Update totals"))
    assert "¥30 flash" in page.page.locator("aside").inner_text()
    page.screenshot("buy-now")
    page.submit(page.page.get_by_role("button", name="Place order and pay"))
    assert "/pay/" in page.page.url, page.text()[:500]
    page.submit(page.page.get_by_role("button", name="Pay now (test)"))
    assert "Payment received" in page.text()

    orders = shop.orders_of(buyer.email)
    assert len(orders) == 1 and orders[0].status.value == "paid" and orders[0].discount_total == 3000
    assert [line.product_name for line in orders[0].lines][0].startswith("Cashmere")
    page.goto("/cart/")
    assert "Everyday" in page.page.locator(".cart-lines").inner_text()

"""Journey 5, the seller switches and configures plugins, in a real browser at desktop and phone widths.

The owner turns each bundled plugin off and on again from Admin → Plugins
while a buyer keeps a tab open: the buyer's next page load shows the change,
without a restart (presale label, coupon box, free-shipping nudge, popup,
pickup option, refunds menu, tracking lookup). The owner configures the
free-shipping threshold (a bad value first, refused with a field error) and
the nudge follows it; pickup settings are saved and shown again. Staff who
are not the owner cannot open the Plugins page.

Every page visited is checked by the harness (axe, width); it skips pages
whose structure it already checked on this device.
"""
from __future__ import annotations

import re

from .helpers_b import add_to_cart, expect_status, fits_width

# plugin -> (buyer page, a check that the plugin shows there). A disabled
# plugin's own page answers 404 instead (None as the check).
EFFECTS = {
    "presale": ("/products/lightweight-down-jacket", lambda t: "Presale" in t.text()),
    "coupons": ("/cart/", lambda t: t.page.locator(".coupon-box").count() > 0),
    "free_shipping": ("/cart/", lambda t: t.page.locator("[data-free-shipping]").count() > 0),
    "promo_popups": ("/", lambda t: t.page.locator("[data-pp-popup]").count() > 0),
    "store_pickup": ("/checkout/", lambda t: t.page.get_by_label(re.compile("Pick up in store")).count() > 0),
    "aftersales": ("/orders/", lambda t: t.page.get_by_role("link", name="Refunds & returns").count() > 0),
    "order_tracking": ("/p/tracking/lookup", None),
}


def _shows(buyer, name: str, tab) -> bool:
    path, check = EFFECTS[name]
    if name == "promo_popups":
        # The demo popup shows once a day per visitor: ask as a new visitor each time.
        visitor = tab()
        visitor.goto(path)
        return check(visitor)
    if check is None:
        buyer.expect_error(path)  # a disabled plugin's page answers 404 on purpose
        response = buyer.page.goto(buyer.shop.url(path), wait_until="load")
        if response.status == 200:
            buyer.check_a11y()
            buyer.check_fits()
        return response.status == 200
    buyer.goto(path)
    return check(buyer)


def _switch(owner, name: str, on: bool) -> None:
    panel = owner.page.locator(f"#plugin-{name}")
    owner.submit(panel.get_by_role("button", name="Enable" if on else "Disable", exact=True))
    assert ("is enabled" if on else "is disabled") in owner.page.inner_text("body")
    assert owner.page.locator(f"#plugin-{name}.plugin-{'enabled' if on else 'disabled'}").count() == 1


def _settings(owner, name: str):
    panel = owner.page.locator(f"#plugin-{name}")
    details = panel.locator("details.plugin-settings")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return panel


def test_seller_switches_and_configures_plugins(shop, tab):
    buyer = shop.make_buyer()
    b = tab()
    b.sign_in_user(buyer)
    add_to_cart(b)

    # Staff who are not the owner: no Plugins page.
    staff = tab()
    staff.sign_in(*shop.demo_staff)
    staff.goto("/admin/plugins", status=403)

    o = tab()
    o.sign_in(*shop.demo_owner)
    o.goto("/admin/plugins")
    fits_width(o)
    o.screenshot("plugins")

    # -- every plugin (on in the demo shop): off, then on again; the buyer sees both -----
    for name in EFFECTS:
        _switch(o, name, on=False)
        assert not _shows(b, name, tab), f"{name}: still visible after it was disabled"
        _switch(o, name, on=True)
        assert _shows(b, name, tab), f"{name}: not back after it was enabled again"

    # -- free shipping: a bad threshold is refused, a good one moves the nudge ------------
    panel = _settings(o, "free_shipping")
    panel.get_by_label("Thresholds per delivery method").fill("courier:lots")
    expect_status(o, "/admin/plugins/free_shipping/settings")
    o.submit(panel.get_by_role("button", name="Save settings"))
    panel = o.page.locator("#plugin-free_shipping")
    assert panel.locator(".field-error").count() >= 1
    panel.get_by_label("Thresholds per delivery method").fill("courier:500.00")
    o.submit(panel.get_by_role("button", name="Save settings"))
    assert "Settings of Free-shipping threshold saved" in o.page.inner_text("body")
    b.goto("/cart/")
    nudge = b.page.locator("[data-free-shipping]")
    assert "Add CN¥421.00 more for free shipping" in nudge.inner_text()  # the tote costs ¥79.00
    fits_width(b)
    b.screenshot("cart-nudge")
    panel = _settings(o, "free_shipping")
    panel.get_by_label("Thresholds per delivery method").fill("courier:50.00")
    o.submit(panel.get_by_role("button", name="Save settings"))
    b.goto("/cart/")
    assert "Free shipping" in b.page.locator("[data-free-shipping]").inner_text()

    # -- store pickup: settings saved and shown again -------------------------------------
    panel = _settings(o, "store_pickup")
    panel.get_by_label("Days of pickup times offered").fill("1")
    o.submit(panel.get_by_role("button", name="Save settings"))
    panel = _settings(o, "store_pickup")
    assert panel.get_by_label("Days of pickup times offered").input_value() == "1"
    fits_width(o)

"""Journey 3, store pickup (到店自提), in a real browser at desktop and phone widths.

A buyer picks a store and a time slot at checkout and pays; staff mark the
order ready from the admin order page; the buyer sees the pickup code and its
QR code; at the slot time staff type the code at the counter screen (a wrong
code first) and the order completes. Other people see neither the code nor
the counter.
"""
from __future__ import annotations

import re
from datetime import datetime

from .helpers_b import add_to_cart, expect_status, fits_width, pay_with_test_provider


def _slot_start_utc(shop, key: str) -> datetime:
    """A slot key is ``<location id>@<YYYY-MM-DDTHH:MM>`` in shop time."""
    from storefront.clock import local_to_utc

    with shop.ctx():
        return local_to_utc(datetime.fromisoformat(key.split("@", 1)[1]))


def test_pickup_from_checkout_to_counter(shop, tab):
    buyer = shop.make_buyer(name="Han Meimei", phone="13900001111")
    b = tab()
    b.sign_in_user(buyer)
    add_to_cart(b)

    # -- checkout: pickup, store and slot -------------------------------------------
    b.goto("/checkout/")
    page = b.page
    page.get_by_label(re.compile("Pick up in store")).check()
    slot_select = page.get_by_label("Store and pickup time")
    options = slot_select.locator("option:not([value=''])")
    assert options.count() > 0, "no pickup slots offered"
    key = options.first.get_attribute("value")
    slot_select.select_option(key)
    assert page.get_by_label("Name of the person collecting").input_value() == "Han Meimei"
    # Bad input first: a phone number that is not one keeps the buyer on the page with the field marked.
    page.get_by_label("Their phone").fill("call me")
    expect_status(b, "/checkout/")
    b.submit(page.get_by_role("button", name="Place order and pay"))
    assert "/pay/" not in page.url
    assert page.locator(".has-error #store_pickup_phone").count() == 1
    assert shop.orders_of(buyer.email) == []
    page.get_by_label(re.compile("Pick up in store")).check()
    page.get_by_label("Store and pickup time").select_option(key)
    page.get_by_label("Their phone").fill("13900001111")
    fits_width(b)
    b.screenshot("checkout")
    b.submit(page.get_by_role("button", name="Place order and pay"))
    pay_with_test_provider(b)

    [order] = shop.orders_of(buyer.email)
    assert order.status.value == "paid" and order.shipping_total == 0 and order.ship_address == ""
    b.goto(f"/orders/{order.number}")
    panel = page.locator(".sp-order")
    assert "Being prepared" in panel.inner_text()
    assert page.locator(".sp-code").count() == 0  # no code before the order is ready

    # -- staff mark it ready from the admin order page --------------------------------
    s = tab()
    s.sign_in(*shop.demo_staff)
    s.goto(f"/admin/orders/{order.number}")
    s.submit(s.page.get_by_role("button", name="Mark ready for pickup"))
    assert "marked ready" in s.page.inner_text("body")
    assert shop.order(order.number).status.value == "shipped"
    [sent] = shop.outbox(kind="store_pickup_ready", order=order.number)
    code = re.search(r"\b\d{8}\b", sent.body).group(0)

    # -- the buyer sees the code and its QR code --------------------------------------
    b.goto(f"/orders/{order.number}")
    assert page.locator(".sp-code").inner_text().strip() == code
    assert page.locator(".sp-qr-box svg").count() == 1
    assert page.locator(".sp-qr-box svg").bounding_box()["width"] >= 100  # scannable from a phone screen
    assert "Confirm receipt" not in b.text()  # collected at the counter, not confirmed by the buyer
    fits_width(b)
    b.screenshot("pickup-code")

    # Another buyer gets a 404 for the order and a 403 for the counter.
    other = tab()
    other.sign_in_user(shop.make_buyer())
    other.goto(f"/orders/{order.number}", status=404)
    counter_path = s.page.locator("a", has_text="Counter screen").get_attribute("href")
    other.goto(counter_path, status=403)

    # -- at the slot time, the counter: a wrong code, then the right one ----------------
    shop.set_clock(int((_slot_start_utc(shop, key) - shop.now()).total_seconds()) + shop.clock_offset + 60)
    s.submit(s.page.get_by_role("link", name="Counter screen"))
    counter = s.page
    assert order.number in counter.locator(".sp-slot").inner_text()
    wrong = "00000000" if code != "00000000" else "11111111"
    counter.get_by_label(re.compile("code", re.I)).fill(wrong)
    expect_status(s, counter_path + "/verify")
    s.submit(counter.get_by_role("button", name="Hand over"))
    assert counter.locator(".field-error").count() >= 1
    assert shop.order(order.number).status.value == "shipped"
    counter.get_by_label(re.compile("code", re.I)).fill(code)
    s.submit(counter.get_by_role("button", name="Hand over"))
    assert f"Handed over: order {order.number}" in counter.inner_text("body")
    assert "Collected" in counter.locator(".sp-slot").inner_text()
    fits_width(s)
    s.screenshot("counter")

    assert shop.order(order.number).status.value == "completed"
    b.goto(f"/orders/{order.number}")
    assert "Collected" in page.locator(".sp-order").inner_text()
    assert page.locator(".sp-code").count() == 0

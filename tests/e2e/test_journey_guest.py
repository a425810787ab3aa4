"""Journey 6: a guest follows the shipped notification's link to the order's tracking page.

The order is placed and shipped through the services (not this journey's
subject); the link is read from the outbox, as the e-mail would carry it, and
opened in a browser that never signed in. Tampered links and wrong contacts
get the lookup form, not the order; the signed-in order page stays private.
"""
from __future__ import annotations

TEE = "everyday-cotton-crew-tee"
ADDRESS = {"name": "Nguyen Minh", "phone": "13987654321", "province": "Guangdong", "city": "Shenzhen",
           "district": "Nanshan", "line1": "88 Keyuan Road, Tower B 1203", "postcode": "518057"}


def shipped_order(shop):
    buyer = shop.make_buyer(name="Nguyen Minh")
    sku = shop.product(TEE).skus[0]
    [number] = shop.place_order(buyer.email, [(sku.code, 2)], address=ADDRESS)
    shop.ship(number, tracking_number="SF8800112233")
    return buyer, number


def test_guest_follows_the_shipped_link(tab, shop):
    buyer, number = shipped_order(shop)
    [message] = shop.outbox(kind="order_shipped", order=number)
    assert message.to_address == buyer.email
    [link] = [url for url in shop.links(message) if "/p/tracking/t/" in url]

    guest = tab()
    guest.goto(link)
    text = guest.text()
    assert number in text and "SF8800112233" in text
    # A guest sees the parcel, not the buyer's full name, phone or address.
    assert ADDRESS["phone"] not in text and ADDRESS["line1"] not in text and ADDRESS["name"] not in text
    guest.screenshot("guest-tracking")

    # The order page itself needs the buyer's sign-in.
    guest.goto(f"/orders/{number}")
    assert "/account/login" in guest.page.url and number not in guest.text()


def test_tampered_link_and_lookup_form(tab, shop):
    buyer, number = shipped_order(shop)
    [message] = shop.outbox(kind="order_shipped", order=number)
    [link] = [url for url in shop.links(message) if "/p/tracking/t/" in url]

    guest = tab()
    forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    guest.goto(forged, status=404)
    assert "invalid or has expired" in guest.text() and number not in guest.text()

    # The lookup form: a wrong contact finds nothing, the right one finds the order.
    guest.expect_error("/p/tracking/lookup")
    guest.page.get_by_label("Order number").fill(number)
    guest.page.get_by_label("Phone number or e-mail on the order").fill("someone.else@example.com")
    guest.submit(guest.page.locator("main form").get_by_role("button", name="Track"))
    assert "No order matches" in guest.text() and "SF8800112233" not in guest.text()
    guest.page.get_by_label("Order number").fill(number)
    guest.page.get_by_label("Phone number or e-mail on the order").fill(ADDRESS["phone"])
    guest.submit(guest.page.locator("main form").get_by_role("button", name="Track"))
    assert "SF8800112233" in guest.text()

    # Another buyer, signed in, cannot open the order page: it does not exist for them.
    other = tab()
    other.sign_in_user(shop.make_buyer())
    other.goto(f"/orders/{number}", status=404)

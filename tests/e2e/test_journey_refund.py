"""Journey 4, return and refund (退货退款), in a real browser at desktop and phone widths.

A buyer asks to return a shipped order for a quality problem with a photo
(a real JPEG drawn with Pillow; first without it, which is refused); staff
approve with a return address; the buyer enters the return carrier and
tracking number; staff record the parcel's arrival and inspection and refund;
the order shows the refund and the after-sales metrics count the completed
return. Another buyer cannot see the request; a buyer cannot open the queue.

The staff steps are found by their visible labels: the arrival and the
inspection are two steps (older versions had one "Mark received" form, which
the journey still drives).
"""
from __future__ import annotations

import re

from .helpers_b import expect_status, fits_width


def _shipped_order(shop, buyer):
    from sqlalchemy import select

    from storefront.accounts.models import User
    from storefront.extensions import db
    from tests.orders.factories import make_order

    with shop.ctx():
        user = db.session.execute(select(User).where(User.id == buyer.id)).scalar_one()
        order = make_order(user, "shipped")
        return order.number, order.total


def _jpeg(tmp_path):
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (320, 240), (236, 236, 230))
    ImageDraw.Draw(picture).line((40, 40, 280, 200), fill=(176, 30, 40), width=9)  # the tear
    path = tmp_path / "torn-seam.jpg"
    picture.save(path, "JPEG", quality=80)
    return path


def _returns_completed(staff_tab) -> int:
    staff_tab.goto("/admin/aftersales/money/metrics")
    match = re.search(r"return-refund requests completed: (\d+)", staff_tab.text())
    assert match, staff_tab.text()[:1500]
    return int(match.group(1))


def _inspect(s) -> None:
    """Arrival, then inspection (two steps), or the one combined step of older versions."""
    page = s.page
    arrived = page.get_by_role("button", name=re.compile("arrived", re.I))
    if arrived.count():
        s.submit(arrived)
        assert "arrived" in s.text().lower()
        page.get_by_label("Inspection").select_option("restock")
        s.submit(page.get_by_role("button", name=re.compile("inspection", re.I)))
    else:
        page.get_by_label("Inspection").select_option("restock")
        s.submit(page.get_by_role("button", name="Mark received"))
    assert "back on sale" in s.text()


def test_return_and_refund_with_photo(shop, tab, tmp_path):
    buyer = shop.make_buyer()
    number, total = _shipped_order(shop, buyer)
    s = tab()
    s.sign_in(*shop.demo_staff)
    completed_before = _returns_completed(s)

    # -- the buyer asks for a return with a photo ---------------------------------------
    b = tab()
    b.sign_in_user(buyer)
    b.goto(f"/orders/{number}")
    b.submit(b.page.get_by_role("link", name="Request a refund / return"))
    page = b.page
    page.get_by_label("What would you like?").select_option("return_refund")
    page.get_by_label("Reason").select_option("quality")
    page.get_by_label("Describe the problem").fill("The seam on the left sleeve came apart after one wear.")
    form_url = page.url
    expect_status(b, form_url)
    b.submit(page.get_by_role("button", name="Send the request"))  # no photo yet: refused, nothing saved
    assert page.locator(".field-error").count() >= 1 and "Photo" in b.text()
    assert "/account/refunds/new/" in page.url
    page.get_by_label("Photos (JPEG, PNG or WebP)").set_input_files(str(_jpeg(tmp_path)))
    fits_width(b)
    b.submit(page.get_by_role("button", name="Send the request"))
    case_url = page.url
    assert re.search(r"/account/refunds/[^/]+$", case_url), case_url
    case_number = case_url.rsplit("/", 1)[1]
    photo = page.locator(".panel img").first
    # loading="lazy": below the fold on a phone it loads only once scrolled to, after "load".
    photo.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo.element_handle(),
                           timeout=10_000)  # served back to its buyer
    assert photo.evaluate("img => img.naturalWidth") > 0

    # Another buyer gets a 404 for the request, the buyer a 403 for the staff queue.
    other = tab()
    other.sign_in_user(shop.make_buyer())
    other.goto(case_url.replace(shop.base, ""), status=404)
    b.goto("/admin/aftersales/", status=403)

    # -- staff approve with a return address --------------------------------------------
    s.goto("/admin/aftersales/")
    s.submit(s.page.get_by_role("link", name=case_number))
    s.page.get_by_label("Return address").fill("Lumen Clothing returns, 88 Wensan Road, Hangzhou 310012")
    s.submit(s.page.get_by_role("button", name="Approve"))
    assert "88 Wensan Road" in s.text()

    # -- the buyer posts it back --------------------------------------------------------
    b.goto(case_url.replace(shop.base, ""))
    assert "88 Wensan Road" in b.text()
    carrier = page.get_by_label("Carrier")
    carrier.select_option(index=0)
    page.get_by_label("Tracking number").fill("SF1234567890")
    b.submit(page.get_by_role("button", name="Save the tracking number"))
    assert "SF1234567890" in b.text()

    # -- staff: arrival, inspection, refund ---------------------------------------------
    s.goto(f"/admin/aftersales/{case_number}")
    assert "SF1234567890" in s.text()
    _inspect(s)
    s.submit(s.page.get_by_role("button", name="Refund", exact=True))
    fits_width(s)
    s.screenshot("case")
    order = shop.order(number)
    # Every item came back: the whole amount asked (the whole order, shipping included) is refunded
    # and the order closes.
    assert order.refunded_total == total and order.status.value == "closed"
    assert _returns_completed(s) == completed_before + 1
    assert s.page.locator(".as-metric svg").count() >= 1  # the charts are drawn
    fits_width(s)
    s.screenshot("metrics")

    # -- the buyer sees the refund ------------------------------------------------------
    b.goto(case_url.replace(shop.base, ""))
    assert "Refunded" in b.text()
    b.goto(f"/orders/{number}")
    assert "Refunds & returns" in b.text()
    fits_width(b)
    b.screenshot("order")

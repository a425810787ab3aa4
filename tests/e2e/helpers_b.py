"""Small steps shared by the pickup, refund and seller journeys (on top of harness.py).

Everything goes through the pages a person uses; the helpers only save
repetition (adding to the cart, paying with the test provider, posting a form
that answers with an error status on purpose).
"""
from __future__ import annotations

TOTE = "canvas-tote-bag"  # demo product: one size, in stock, not presale


def add_to_cart(tab, slug: str = TOTE, quantity: int = 1) -> None:
    """Open a product page, pick its first buyable SKU and add it to the cart."""
    tab.goto(f"/products/{slug}")
    page = tab.page
    choice = page.locator("input[name=sku_id]:not([disabled])").first
    choice.check()
    page.fill("#quantity", str(quantity))
    tab.submit(page.get_by_role("button", name="Add to cart"))
    assert "/cart" in page.url, page.url


def pay_with_test_provider(tab) -> None:
    """On the payment page: pay with the simulated provider."""
    assert "/pay/" in tab.page.url, tab.page.url
    tab.submit(tab.page.get_by_role("button", name="Pay now (test)"))
    body = tab.page.inner_text("body")
    assert "Payment received" in body, f"{tab.page.url}: {body[:800]}"


def expect_status(tab, path: str) -> None:
    """The document at ``path`` answers 4xx on purpose (a refused form, a page the
    user may not see): the harness must not count it as a broken resource."""
    tab.expect_error(path)


def fits_width(tab) -> None:
    """Nothing wider than the screen (every page works on a phone); the harness's check,
    for pages that changed without a navigation."""
    tab.check_fits()

"""Buyer pages: home, listings, search, pagination, product page, plugin isolation."""
from __future__ import annotations

import re

from storefront.catalog.models import Product
from storefront.extensions import db
from storefront.plugins import hookimpl
from storefront.plugins.host import get_host
from storefront.plugins.types import Badge, Offer

from ..conftest import csrf_token_from
from .helpers import make_category, make_full_product


def test_home_shows_shop_arrivals_and_almost_gone(app, client):
    make_category("Knitwear", "knitwear")
    make_full_product("Merino Sweater", skus=(("Grey", "M", 39900, 2),))
    make_full_product("Plain Tee", skus=(("White", "M", 5900, 50),))
    html = client.get("/").get_data(as_text=True)
    assert "Knitwear" in html and "/c/knitwear" in html
    assert "Plain Tee" in html and "Merino Sweater" in html
    almost = html.split("Almost gone", 1)[1]
    assert "Merino Sweater" in almost and "Plain Tee" not in almost


def test_listing_hides_inactive_and_shows_lowest_price(app, client):
    make_full_product("Visible Shirt", skus=(("Blue", "M", 19900, 5), ("Blue", "L", 17900, 5)), compare_at=25900)
    make_full_product("Hidden Shirt", active=False)
    response = client.get("/products")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Visible Shirt" in html and "Hidden Shirt" not in html
    assert "179.00" in html and "259.00" in html  # lowest active SKU price and the "was" price
    assert client.get("/products/hidden-shirt").status_code == 404


def test_search_is_case_insensitive_over_name_and_description(app, client):
    make_full_product("Linen Shirt", description="Breathable")
    make_full_product("Wool Coat", description="Warm LINEN lining")
    make_full_product("Denim Jeans", description="Blue")
    html = client.get("/products?q=linen").get_data(as_text=True)
    assert "Linen Shirt" in html and "Wool Coat" in html and "Denim Jeans" not in html
    # LIKE wildcards typed by a buyer match themselves, not everything
    assert "Denim Jeans" not in client.get("/products?q=%25").get_data(as_text=True)


def test_category_filter_and_category_page(app, client):
    shirts = make_category("Shirts", "shirts")
    make_full_product("Oxford Shirt", category=shirts)
    make_full_product("Chinos")
    for url in ("/products?category=shirts", "/c/shirts"):
        html = client.get(url).get_data(as_text=True)
        assert "Oxford Shirt" in html and "Chinos" not in html
    assert client.get("/c/nope").status_code == 404
    assert client.get("/products?category=nope").status_code == 404


def test_keyset_pagination_walks_every_product_once(app, client):
    for i in range(30):
        make_full_product(f"Tee {i:02d}", slug=f"tee-{i:02d}")
    first = client.get("/products").get_data(as_text=True)
    match = re.search(r'href="(/products\?after=(\d+))"', first)
    assert match, "no next link"
    second = client.get(match.group(1)).get_data(as_text=True)
    names_1 = set(re.findall(r"Tee \d\d", first))
    names_2 = set(re.findall(r"Tee \d\d", second))
    assert len(names_1) == 24 and len(names_2) == 6
    assert not names_1 & names_2
    assert 'rel="next"' not in second
    assert client.get("/products?after=abc").status_code == 200


def test_list_pages_have_no_n_plus_one_and_never_write(app, client, count_queries):
    def fresh_get(url):
        # The test shares the request's session: empty it so nothing is already loaded.
        db.session.remove()
        return client.get(url)

    for i in range(3):
        make_full_product(f"Few {i}", slug=f"few-{i}", skus=(("A", "S", 100, 1), ("A", "M", 100, 2)))
    fresh_get("/products")  # warm-up: first-request work is not per product
    count_queries.statements.clear()
    fresh_get("/products")
    few = count_queries.count
    for i in range(12):
        make_full_product(f"Many {i}", slug=f"many-{i}", skus=(("A", "S", 100, 1), ("A", "M", 100, 2)))
    count_queries.statements.clear()
    for url in ("/products", "/", "/products/many-3", "/c/none", "/api/v1/products"):
        fresh_get(url)
    assert count_queries.writes == []
    count_queries.statements.clear()
    fresh_get("/products")
    assert count_queries.count == few


def test_product_page_lists_skus_with_stock_states(app, client):
    product = make_full_product("Wrap Dress", skus=(("Red", "S", 36900, 20), ("Red", "M", 36900, 3),
                                                    ("Red", "L", 36900, 0)))
    html = client.get(f"/products/{product.slug}").get_data(as_text=True)
    skus = {s.options[1]: s for s in product.skus}
    assert 'action="/cart/add"' in html and 'method="post"' in html
    assert 'name="quantity"' in html
    assert "In stock" in html and "Only 3 left" in html and "Sold out" in html
    radio_l = re.search(rf'<input type="radio" name="sku_id" value="{skus["L"].id}"[^>]*>', html).group(0)
    radio_s = re.search(rf'<input type="radio" name="sku_id" value="{skus["S"].id}"[^>]*>', html).group(0)
    assert "disabled" in radio_l and "disabled" not in radio_s
    assert "<script" not in html.split("</header>", 1)[1].split("<footer")[0]


def test_product_page_form_carries_csrf_token(app, secure_client):
    product = make_full_product("Token Tee")
    html = secure_client.get(f"/products/{product.slug}").get_data(as_text=True)
    form = html.split('action="/cart/add"', 1)[1].split("</form>", 1)[0]
    assert csrf_token_from(form)


def test_description_is_escaped_and_keeps_line_breaks(app, client):
    product = make_full_product("Evil", description="line one\n<script>alert(1)</script><b>bold</b>")
    html = client.get(f"/products/{product.slug}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "line one\n" in html  # kept; CSS shows it as a line break


class _GoodPlugin:
    @hookimpl
    def product_offer(self, product, sku, buyer):
        return Offer(source="test", badges=(Badge("Presale", "presale", "test"),), ship_promise="Ships by 11 Nov")


class _BrokenPlugin:
    @hookimpl
    def product_offer(self, product, sku, buyer):
        raise RuntimeError("plugin bug")


def _with_plugins(app, *plugins):
    pm = get_host(app).pm
    names = []
    for i, plugin in enumerate(plugins):
        names.append(f"test-offer-{i}")
        pm.register(plugin, name=names[-1])
    return lambda: [pm.unregister(name=n) for n in names]


def test_offer_badges_and_promise_show_and_a_broken_plugin_breaks_nothing(app, client):
    product = make_full_product("Presale Coat")
    undo = _with_plugins(app, _GoodPlugin(), _BrokenPlugin())
    try:
        listing = client.get("/products")
        page = client.get(f"/products/{product.slug}")
    finally:
        undo()
    assert listing.status_code == 200 and page.status_code == 200
    for html in (listing.get_data(as_text=True), page.get_data(as_text=True)):
        assert "Presale Coat" in html and "Presale</span>" in html and "Ships by 11 Nov" in html


def test_offer_availability_limits_what_is_buyable(app, client):
    class Limit:
        @hookimpl
        def product_offer(self, product, sku, buyer):
            return Offer(source="limit", available=0)

    product = make_full_product("Limited", skus=(("Red", "S", 100, 50),))
    undo = _with_plugins(app, Limit())
    try:
        html = client.get(f"/products/{product.slug}").get_data(as_text=True)
    finally:
        undo()
    assert "Sold out" in html


def test_unknown_product_is_404(app, client):
    assert client.get("/products/does-not-exist").status_code == 404
    assert db.session.query(Product).count() == 0


def test_card_advertises_cheapest_buyable_sku(app, client):
    make_full_product("Mixed", skus=(("A", "S", 5000, 0), ("A", "M", 7000, 4), ("A", "L", 9000, 4)))
    html = client.get("/products").get_data(as_text=True)
    card = html.split("Mixed", 1)[1].split("</article>", 1)[0]
    assert "From" in card and "70.00" in card and "50.00" not in card and "Sold out" not in card

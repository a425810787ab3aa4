"""Public catalog API: list, search, pagination, detail, categories, errors."""
from __future__ import annotations

from storefront.plugins import hookimpl
from storefront.plugins.host import get_host
from storefront.plugins.types import Badge, Offer

from .helpers import make_category, make_full_product


def test_list_products_with_money_json_and_cursor(app, client):
    for i in range(5):
        make_full_product(f"Tee {i}", slug=f"tee-{i}", skus=(("A", "S", 5900 + i, 3 + i),))
    make_full_product("Secret", active=False)
    first = client.get("/api/v1/products?limit=3")
    assert first.status_code == 200
    body = first.get_json()
    assert [p["name"] for p in body["items"]] == ["Tee 4", "Tee 3", "Tee 2"]
    assert body["items"][0]["price"] == {"amount": 5904, "currency": "CNY", "decimal": "59.04"}
    second = client.get(f"/api/v1/products?limit=3&after={body['next_after']}").get_json()
    assert [p["name"] for p in second["items"]] == ["Tee 1", "Tee 0"] and second["next_after"] is None


def test_list_search_and_category(app, client):
    cat = make_category("Dresses", "dresses")
    make_full_product("Wrap Dress", category=cat)
    make_full_product("Linen Shirt", description="not a dress? no")
    names = [p["name"] for p in client.get("/api/v1/products?q=DRESS").get_json()["items"]]
    assert sorted(names) == ["Linen Shirt", "Wrap Dress"]
    names = [p["name"] for p in client.get("/api/v1/products?category=dresses").get_json()["items"]]
    assert names == ["Wrap Dress"]
    missing = client.get("/api/v1/products?category=nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_bad_arguments_are_json_errors(app, client):
    for query in ("limit=51", "limit=0", "after=abc", "after=-4"):
        response = client.get(f"/api/v1/products?{query}")
        assert response.status_code == 422, query
        assert "code" in response.get_json()["error"]


def test_product_detail_has_skus_states_badges_and_promise(app, client):
    class Presale:
        @hookimpl
        def product_offer(self, product, sku, buyer):
            return Offer(source="t", badges=(Badge("Presale", "presale", "t"),), ship_promise="Ships by 11 Nov")

    product = make_full_product("Coat", skus=(("Black", "M", 59900, 30), ("Black", "L", 61900, 2),
                                               ("Black", "XL", 61900, 0)), compare_at=69900)
    pm = get_host(app).pm
    pm.register(Presale(), name="test-api-presale")
    try:
        response = client.get(f"/api/v1/products/{product.slug}")
    finally:
        pm.unregister(name="test-api-presale")
    assert response.status_code == 200
    body = response.get_json()
    assert body["description"] == "Soft linen" and body["option_names"] == ["Colour", "Size"]
    states = {s["options"][1]: s["stock_state"] for s in body["skus"]}
    assert states == {"M": "in_stock", "L": "low", "XL": "sold_out"}
    sku = body["skus"][0]
    assert sku["price"]["amount"] == 59900 and sku["compare_at_price"]["amount"] == 69900
    assert sku["badges"] == [{"text": "Presale", "kind": "presale", "source": "t"}]
    assert sku["ship_promise"] == "Ships by 11 Nov"
    assert body["price"]["amount"] == 59900


def test_unknown_or_inactive_product_is_404_json(app, client):
    make_full_product("Gone", slug="gone", active=False)
    for slug in ("gone", "never"):
        response = client.get(f"/api/v1/products/{slug}")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_categories(app, client):
    make_category("B", "b", position=2)
    make_category("A", "a", position=1)
    assert [c["slug"] for c in client.get("/api/v1/categories").get_json()] == ["a", "b"]

"""The anonymous page cache of the catalog pages (storefront/pagecache.py): what is cached for
whom, the per-visitor holes (CSRF token, popups), invalidation, TTL and bounds."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from storefront import pagecache
from storefront.catalog.models import Product, Sku
from storefront.extensions import db
from storefront.settings_models import Setting

from ..conftest import csrf_token_from, new_client
from ..factories import (login, make_staff, make_user, set_plugin_state, sign_in,
                         write_behind_sqlalchemys_back)
from .helpers import make_full_product


def _enable(flask_app, monkeypatch):
    monkeypatch.setitem(flask_app.config, "STOREFRONT_PAGE_CACHE_SECONDS", 5)
    cache = flask_app.extensions[pagecache.EXTENSION_KEY]
    cache.clear()
    return cache


@pytest.fixture
def cache(app, monkeypatch):
    cache = _enable(app, monkeypatch)
    yield cache
    cache.clear()


@pytest.fixture
def product(app):
    return make_full_product("Linen Shirt", skus=(("Black", "S", 12900, 10), ("Black", "M", 12900, 10)))


def _state(response) -> str | None:
    return response.headers.get("X-Page-Cache")


def test_anonymous_pages_are_filled_then_served(app, cache, product):
    for path in ("/", "/products", "/products?q=linen", "/c/none-yet", f"/products/{product.slug}"):
        first = new_client(app).get(path)
        if first.status_code == 404:  # unknown category: errors are never cached
            assert _state(first) is None and _state(new_client(app).get(path)) is None
            continue
        second = new_client(app).get(path)
        assert (first.status_code, _state(first)) == (200, "miss"), path
        assert (second.status_code, _state(second)) == (200, "hit"), path
        assert second.mimetype == "text/html"
    assert "Linen Shirt" in new_client(app).get(f"/products/{product.slug}").get_data(as_text=True)


def test_query_string_is_normalised(app, cache, product):
    assert _state(new_client(app).get("/products?q=linen&after=0")) == "miss"
    assert _state(new_client(app).get("/products?after=0&q=linen")) == "hit"


def test_head_is_served_and_fills(app, cache, product):
    path = f"/products/{product.slug}"
    head = new_client(app).head(path)
    assert head.status_code == 200 and _state(head) == "miss" and head.get_data() == b""
    get = new_client(app).get(path)
    assert _state(get) == "hit" and "Linen Shirt" in get.get_data(as_text=True)
    assert _state(new_client(app).head(path)) == "hit"


def test_huge_query_string_is_never_cached(app, cache, product):
    path = "/products?q=" + "x" * 300
    for _ in range(2):
        response = new_client(app).get(path)
        assert response.status_code == 200 and _state(response) is None
    assert len(cache) == 0


def test_large_body_is_not_cached(app, cache, product, monkeypatch):
    monkeypatch.setattr(pagecache, "MAX_BODY_BYTES", 100)
    assert _state(new_client(app).get("/")) is None
    assert _state(new_client(app).get("/")) is None and len(cache) == 0


def test_entries_are_bounded(app, cache, product, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_PAGE_CACHE_ENTRIES", 2)
    for path in ("/", "/products", f"/products/{product.slug}"):
        new_client(app).get(path)
    assert len(cache) == 2
    assert _state(new_client(app).get("/")) == "miss"  # the oldest went first


def test_total_size_is_bounded(app, cache, product, monkeypatch):
    paths = ("/", "/products", f"/products/{product.slug}")
    for path in paths:
        new_client(app).get(path)
    largest = max(entry.size for entry in cache._entries.values())
    cache.clear()
    monkeypatch.setattr(pagecache, "MAX_TOTAL_BYTES", largest)  # any one page fits, no two do
    for path in paths:
        new_client(app).get(path)
    assert len(cache) == 1


@pytest.mark.parametrize("role", ["buyer", "staff"])
def test_signed_in_visitors_never_get_or_fill_a_cached_page(app, cache, product, role):
    path = f"/products/{product.slug}"
    user = make_user() if role == "buyer" else make_staff()
    member = new_client(app)
    sign_in(member, user)
    response = member.get(path)
    assert response.status_code == 200 and _state(response) is None and len(cache) == 0
    assert _state(new_client(app).get(path)) == "miss"  # the anonymous page is filled now
    response = member.get(path)
    assert _state(response) is None and "My account" in response.get_data(as_text=True)
    assert "My account" not in new_client(app).get(path).get_data(as_text=True)


def test_authorization_header_flashes_and_guest_cart_bypass(app, cache, product):
    path = f"/products/{product.slug}"
    new_client(app).get(path)
    assert _state(new_client(app).get(path, headers={"Authorization": "Bearer nope"})) is None
    flashed = new_client(app)
    with flashed.session_transaction() as sess:
        sess["_flashes"] = [("info", "Saved for later")]
    response = flashed.get(path)
    assert _state(response) is None and "Saved for later" in response.get_data(as_text=True)
    assert _state(flashed.get(path)) == "hit"  # the message was shown once
    with_cart = new_client(app)
    with with_cart.session_transaction() as sess:
        sess["cart_token"] = "a-guest-cart"  # free shipping's hint shows that cart
    assert _state(with_cart.get(path)) is None


def test_switched_off_with_zero_seconds(app, cache, product, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_PAGE_CACHE_SECONDS", 0)
    for _ in range(2):
        assert _state(new_client(app).get("/")) is None
    assert len(cache) == 0


def test_ttl_expiry(app, cache, product, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(pagecache, "_now", lambda: now[0])
    assert _state(new_client(app).get("/")) == "miss"
    now[0] += 4.9
    assert _state(new_client(app).get("/")) == "hit"
    now[0] += 0.2
    assert _state(new_client(app).get("/")) == "miss"


def _html_lang(response) -> str:
    html = response.get_data(as_text=True)
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


def test_locales_are_cached_apart(app, cache, product, monkeypatch):
    paths = ["/?lang=zh_Hans_CN", "/?lang=zh_Hans", "/?lang=en", "/"]
    monkeypatch.setitem(app.config, "STOREFRONT_PAGE_CACHE_SECONDS", 0)
    uncached = {path: _html_lang(new_client(app).get(path)) for path in paths}
    monkeypatch.setitem(app.config, "STOREFRONT_PAGE_CACHE_SECONDS", 5)
    for _ in range(2):
        assert {path: _html_lang(new_client(app).get(path)) for path in paths} == uncached
    assert uncached["/?lang=zh_Hans"].startswith("zh") and uncached["/"] == "en"
    chinese = new_client(app)
    chinese.get("/?lang=zh_Hans")  # stored in the session: the plain path is Chinese for this visitor
    response = chinese.get("/")
    assert _state(response) == "miss" and _html_lang(response).startswith("zh")
    assert _state(chinese.get("/")) == "hit"
    again = new_client(app).get("/")
    assert _state(again) == "hit" and _html_lang(again) == "en"


def _clocks(monkeypatch) -> list[float]:
    """One clock for the pages' TTL and the config's reuse window."""
    from storefront import config_reuse

    now = [1000.0]
    monkeypatch.setattr(pagecache, "_now", lambda: now[0])
    monkeypatch.setattr(config_reuse, "_now", lambda: now[0])
    return now


def test_a_hit_sends_no_statement_while_the_config_read_is_reused(app, cache, product, monkeypatch):
    from tests.perf.conftest import count_queries

    now = _clocks(monkeypatch)
    path = f"/products/{product.slug}"
    new_client(app).get(path)
    with count_queries() as seen:
        response = new_client(app).get(path)
    assert _state(response) == "hit" and seen == []  # not even a BEGIN
    now[0] += 1.01
    with count_queries() as seen:
        response = new_client(app).get(path)
    assert _state(response) == "hit"
    sent = [s for s in seen if s not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert len(sent) == 1 and "FROM plugin_states" in sent[0], sent


def test_config_reuse_is_off_with_zero_seconds(app, cache, product, monkeypatch):
    from tests.perf.conftest import count_queries

    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 0)
    path = f"/products/{product.slug}"
    new_client(app).get(path)
    with count_queries() as seen:
        assert _state(new_client(app).get(path)) == "hit"
    assert any("FROM plugin_states" in s for s in seen)


def test_a_switch_made_on_another_host_shows_on_cached_pages_within_the_window(app, cache, product, monkeypatch):
    now = _clocks(monkeypatch)
    _popup(frequency="always")
    assert "Double 11 sale" in new_client(app).get("/").get_data(as_text=True)
    write_behind_sqlalchemys_back("UPDATE plugin_states SET enabled = false WHERE name = 'promo_popups'")
    now[0] += 0.5
    response = new_client(app).get("/")
    assert _state(response) == "hit" and "Double 11 sale" in response.get_data(as_text=True)
    now[0] += 0.6
    response = new_client(app).get("/")
    assert _state(response) == "miss" and "Double 11 sale" not in response.get_data(as_text=True)


def test_a_setting_written_in_this_worker_shows_on_the_next_request(app, cache, product, monkeypatch):
    from storefront.settings import set_settings

    now = [1000.0]
    monkeypatch.setattr(pagecache, "_now", lambda: now[0])
    assert "Storefront Demo" in new_client(app).get("/").get_data(as_text=True)
    set_settings({"shop_name": "Lotus Tea House"})
    db.session.commit()
    response = new_client(app).get("/")
    assert _state(response) == "miss" and "Lotus Tea House" in response.get_data(as_text=True)


def test_a_rolled_back_setting_write_is_not_kept_stale(app, cache, product, monkeypatch):
    from storefront.settings import local_config_writes, set_settings

    before = local_config_writes()
    set_settings({"shop_name": "Never Saved"})
    db.session.flush()
    db.session.rollback()
    assert local_config_writes() >= before + 2  # the write, then its rollback
    assert "Never Saved" not in new_client(app).get("/").get_data(as_text=True)


# per-visitor holes -------------------------------------------------------------

def test_csrf_token_is_each_visitors_own_and_works(secure_app, monkeypatch, product):
    cache = _enable(secure_app, monkeypatch)
    try:
        path = f"/products/{product.slug}"
        first, second = new_client(secure_app), new_client(secure_app)
        page_a = first.get(path)
        page_b = second.get(path)
        assert (_state(page_a), _state(page_b)) == ("miss", "hit")
        token_a = csrf_token_from(page_a.get_data(as_text=True))
        token_b = csrf_token_from(page_b.get_data(as_text=True))
        assert token_a != token_b and token_a not in page_b.get_data(as_text=True)
        assert "pc:" not in page_b.get_data(as_text=True)  # no hole marker left
        sku = product.skus[0]
        added = second.post("/cart/add", data={"csrf_token": token_b, "sku_id": sku.id, "quantity": 1})
        assert added.status_code in (302, 303), added.get_data(as_text=True)[:300]
        refused = first.post("/cart/add", data={"csrf_token": token_b, "sku_id": sku.id, "quantity": 1})
        assert refused.status_code == 400  # another visitor's token
        assert "Set-Cookie" in page_b.headers  # a new visitor's session, as without the cache
    finally:
        cache.clear()


def _popup(frequency="session"):
    from plugins.promo_popups import services
    from plugins.promo_popups.targeting import clear_cache

    set_plugin_state("promo_popups")
    clear_cache()
    return services.create_popup({"title": "Double 11 sale", "body": "<p>Sale</p>", "pages": ["all"],
                                  "frequency": frequency})


def test_popup_is_decided_per_visitor_on_a_cached_page(app, cache, product):
    popup = _popup()
    path = f"/products/{product.slug}"
    assert "Double 11 sale" in new_client(app).get(path).get_data(as_text=True)
    capped = new_client(app)
    capped.set_cookie(f"pp_f{popup.id}", "1")
    response = capped.get(path)
    assert _state(response) == "hit" and "Double 11 sale" not in response.get_data(as_text=True)
    assert "promo_popups.css" not in response.get_data(as_text=True)
    other = new_client(app).get(path)
    assert _state(other) == "hit" and "Double 11 sale" in other.get_data(as_text=True)


# invalidation ------------------------------------------------------------------

def test_admin_product_edit_shows_on_the_next_request(app, cache, product):
    path = f"/products/{product.slug}"
    new_client(app).get(path)
    staff = new_client(app)
    login(staff, make_staff())
    response = staff.post(f"/admin/products/{product.id}", data={
        "name": "Silk Shirt", "slug": product.slug, "description": "x", "category_id": "0",
        "option_names": "Colour, Size", "active": "y"})
    assert response.status_code == 302
    response = new_client(app).get(path)
    assert _state(response) == "miss" and "Silk Shirt" in response.get_data(as_text=True)


def test_disabling_popups_in_the_admin_shows_on_the_next_request(app, cache, product):
    _popup(frequency="always")
    assert "Double 11 sale" in new_client(app).get("/").get_data(as_text=True)
    assert "Double 11 sale" in new_client(app).get("/").get_data(as_text=True)
    owner = new_client(app)
    login(owner, make_staff(role="owner"))
    assert owner.post("/admin/plugins/promo_popups/disable").status_code in (302, 303)
    response = new_client(app).get("/")
    assert _state(response) == "miss" and "Double 11 sale" not in response.get_data(as_text=True)


def _version():
    db.session.expire_all()
    row = db.session.get(Setting, pagecache.VERSION_KEY)
    return row.value if row is not None else None


def test_orm_edits_bump_the_version_and_stock_counters_do_not(app, cache, product):
    before = _version()
    assert before is not None  # the product's creation wrote it
    db.session.execute(update(Sku).where(Sku.product_id == product.id).values(stock=Sku.stock - 1))
    db.session.commit()
    assert _version() == before
    db.session.get(Product, product.id).name = "Renamed"
    db.session.commit()
    assert _version() != before
    unchanged = _version()
    db.session.get(Product, product.id).name = "Renamed"  # same value: nothing to write
    db.session.commit()
    assert _version() == unchanged

"""The templates' url_for keeps what it built (storefront/url_memo.py): the same URLs as
Flask's, built once, and never a URL that depends on something the key leaves out."""
from __future__ import annotations

import pytest
from flask import Blueprint, Flask, g, render_template_string

from storefront import url_memo
from storefront.url_memo import UrlMemo, pure_url_default


def _app(**config) -> Flask:
    app = Flask(__name__)
    app.config.update(config)

    @app.get("/p/<int:pid>")
    def product(pid):
        return render_template_string("{{ url_for('product', pid=pid, page=page) }}", pid=pid, page=2)

    @app.get("/search")
    def search():
        return ""

    shop = Blueprint("shop", __name__, url_prefix="/shop")

    @shop.get("/<slug>")
    def item(slug):
        return ""

    app.register_blueprint(shop)
    url_memo.init_app(app)
    return app


def _serve_once(app: Flask) -> None:
    """Flask accepts no url_defaults after the first request, and the memo keeps nothing
    before it."""
    app.test_client().get("/search")


def _counting(memo: UrlMemo) -> list:
    built = []
    original = memo.build

    def build(endpoint, **values):
        built.append(endpoint)
        return original(endpoint, **values)

    memo.build = build
    return built


def test_the_same_urls_as_flask_built_once():
    app = _app()
    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    assert isinstance(memo, UrlMemo)
    built = _counting(memo)
    calls = [("product", {"pid": 7}), ("product", {"pid": 7, "q": "tea cup", "_anchor": "reviews"}),
             ("search", {"q": "茶", "page": 3}), ("shop.item", {"slug": "a b"}), ("static", {"filename": "x.css"})]
    with app.test_request_context("/"):
        first = [memo(endpoint, **dict(values)) for endpoint, values in calls]
        again = [memo(endpoint, **dict(values)) for endpoint, values in calls]
        flask_urls = [app.url_for(endpoint, **dict(values)) for endpoint, values in calls]
    assert first == again == flask_urls
    assert first[1] == "/p/7?q=tea+cup#reviews"
    assert len(built) == len(calls)  # the second round came from the memo


def test_values_of_another_type_or_order_are_other_keys():
    app = _app()
    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    with app.test_request_context("/"):
        assert memo("search", page=1) == "/search?page=1"
        assert memo("search", page=True) == "/search?page=True"  # True == 1, but not the same URL
        assert memo("search", a=1, b=2) == "/search?a=1&b=2"
        assert memo("search", b=2, a=1) == "/search?b=2&a=1"


def test_the_script_root_and_host_are_part_of_the_key():
    app = _app()
    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    with app.test_request_context("/", base_url="http://shop.test/"):
        assert memo("product", pid=1) == "/p/1"
    with app.test_request_context("/", base_url="http://shop.test/store/"):
        assert memo("product", pid=1) == "/store/p/1"
    with app.test_request_context("/", base_url="https://other.test/"):
        assert memo("product", pid=1, _external=True) == "https://other.test/p/1"  # absolute: never kept
    assert all(key[0] == "product" for key in memo.urls)
    assert len(memo.urls) == 2


def test_a_url_default_that_reads_the_request_keeps_its_endpoints_off_the_memo():
    app = _app()
    shop = app.blueprints["shop"]

    @app.url_value_preprocessor
    def _lang_from_url(endpoint, values):
        g.lang = (values or {}).pop("lang", "en") if endpoint == "shop.item" else "en"

    def _add_lang(endpoint, values):  # a plugin's or host app's, not marked pure
        values.setdefault("lang", g.lang)

    app.url_default_functions.setdefault("shop", []).append(_add_lang)
    assert shop.name == "shop"
    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    for lang in ("en", "vi", "zh"):
        with app.test_request_context("/"):
            g.lang = lang
            assert memo("shop.item", slug="tea") == f"/shop/tea?lang={lang}"
            assert memo("product", pid=1) == "/p/1"  # the app-wide defaults are all pure
    assert [key[0] for key in memo.urls] == ["product"]


def test_a_marked_url_default_is_applied_once_and_kept():
    app = _app()
    calls = []

    @app.url_defaults
    @pure_url_default
    def _version(endpoint, values):
        calls.append(endpoint)
        if endpoint == "static":
            values.setdefault("v", "abc")

    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    with app.test_request_context("/"):
        assert memo("static", filename="a.css") == memo("static", filename="a.css") == "/static/a.css?v=abc"
    assert calls == ["static"]


def test_nothing_is_kept_before_the_app_serves_or_in_debug_mode():
    app = _app()
    memo = app.jinja_env.globals["url_for"]
    with app.test_request_context("/"):
        memo("product", pid=1)
    assert not memo.urls  # url_defaults may still be added
    debug = _app(DEBUG=True)
    _serve_once(debug)
    memo = debug.jinja_env.globals["url_for"]
    with debug.test_request_context("/"):
        memo("product", pid=1)
    assert not memo.urls


def test_unhashable_values_and_relative_endpoints_are_built_each_time():
    app = _app()
    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    built = _counting(memo)
    with app.test_request_context("/shop/x"):
        assert memo("search", tag=["a", "b"]) == memo("search", tag=["a", "b"]) == "/search?tag=a&tag=b"
        assert memo(".item", slug="y") == "/shop/y"
    assert len(built) == 3 and not memo.urls


def test_a_full_memo_starts_again(monkeypatch):
    monkeypatch.setattr(url_memo, "MAX_URLS", 3)
    app = _app()
    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    with app.test_request_context("/"):
        for pid in range(1, 8):
            assert memo("product", pid=pid) == f"/p/{pid}"
    assert 1 <= len(memo.urls) <= 3


def test_outside_a_request_it_is_flasks_url_for():
    app = _app(SERVER_NAME="shop.test")
    _serve_once(app)
    memo = app.jinja_env.globals["url_for"]
    with app.app_context():
        assert memo("product", pid=1) == "http://shop.test/p/1"
    assert not memo.urls


def test_an_app_that_gave_its_templates_its_own_url_for_keeps_it():
    app = Flask(__name__)

    def own_url_for(endpoint, **values):
        return "/mine"

    app.jinja_env.globals["url_for"] = own_url_for
    url_memo.init_app(app)
    assert app.jinja_env.globals["url_for"] is own_url_for


def test_the_shops_templates_use_the_memo(app, client):
    memo = app.jinja_env.globals["url_for"]
    assert isinstance(memo, UrlMemo)
    first = client.get("/")
    assert first.status_code == 200
    static_keys = [key for key in memo.urls if key[0] == "storefront.static"]
    assert static_keys and all("?v=" in memo.urls[key] for key in static_keys)  # with their fingerprints
    assert ("cart.view_cart", "", "localhost", "http") in memo.urls


@pytest.mark.parametrize("endpoint", ["catalog.product", "storefront.static", "static"])
def test_the_shops_url_defaults_are_all_marked_pure(app, client, endpoint):
    client.get("/")  # the memo judges only once the app has served (url_defaults are final then)
    memo = app.jinja_env.globals["url_for"]
    assert memo._defaults_are_pure(endpoint)

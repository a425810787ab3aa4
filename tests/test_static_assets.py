"""Static files: fingerprinted URLs, a year of caching for them, revalidation for the rest."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from storefront.static_assets import ONE_YEAR
from tests.factories import make_product, make_user, sign_in

STATIC = Path(__file__).resolve().parents[1] / "storefront" / "static"


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/(?:[^"]*/)?static/[^"]*)"', html)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_pages_link_each_asset_by_its_content_fingerprint(client):
    html = client.get("/account/login").get_data(as_text=True)
    assets = _assets(html)
    assert f"/static/storefront/css/shop.css?v={_digest(STATIC / 'css' / 'shop.css')}" in assets
    assert f"/static/storefront/js/shop.js?v={_digest(STATIC / 'js' / 'shop.js')}" in assets


def test_a_fingerprinted_asset_is_cached_for_a_year_whoever_asks(app, client):
    buyer = make_user()
    sign_in(client, buyer)
    client.get("/cart/")  # the session now holds a CSRF token, and a flash would change it again
    assets = _assets(client.get("/cart/").get_data(as_text=True))
    assert len(assets) >= 2
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        cache = response.cache_control
        assert cache.public and cache.immutable and cache.max_age == ONE_YEAR and not cache.no_cache, url
        # Nothing in it depends on the session: no Vary: Cookie, no cookie set.
        assert "Cookie" not in response.headers.get("Vary", ""), url
        assert "Set-Cookie" not in response.headers, url


def test_without_the_current_fingerprint_the_browser_revalidates(client):
    for url in ("/static/storefront/css/shop.css", "/static/storefront/css/shop.css?v=000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.cache_control.no_cache and not response.cache_control.immutable
        assert not response.cache_control.max_age
        etag = response.headers["ETag"]
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304


def test_plugin_assets_are_fingerprinted_too(app):
    from flask import url_for

    with app.test_request_context():
        url = url_for("promo_popups.static", filename="promo_popups.css")
    plugin_file = Path(__file__).resolve().parents[1] / "plugins" / "promo_popups" / "static" / "promo_popups.css"
    assert url.endswith(f"promo_popups.css?v={_digest(plugin_file)}")


def test_a_missing_file_gets_no_fingerprint_and_stays_a_404(app, client):
    from flask import url_for

    with app.test_request_context():
        url = url_for("storefront.static", filename="css/no-such.css")
    assert "v=" not in url
    assert client.get(url).status_code == 404
    assert client.get("/static/storefront/../../wsgi.py?v=abc").status_code == 404


def test_a_static_request_that_changes_the_session_still_saves_it(app, client):
    make_product()  # a shop with something in it; the request below is a static one
    response = client.get(f"/static/storefront/css/shop.css?v={_digest(STATIC / 'css' / 'shop.css')}&lang=vi")
    assert response.status_code == 200
    assert "session=" in response.headers.get("Set-Cookie", "")  # the language choice is kept
    page = client.get("/account/login")
    assert 'lang="vi"' in page.get_data(as_text=True)


def test_a_new_secret_key_signs_sessions_anew(app, client, monkeypatch):
    """The session's serializer is kept per secret key (cookie_session.SessionInterface): a
    rotated key refuses the cookies of the old one, or accepts them from the fallbacks."""
    buyer = make_user()
    sign_in(client, buyer)
    assert client.get("/orders/").status_code == 200
    old_key = app.secret_key
    monkeypatch.setattr(app, "secret_key", "a-rotated-key-" + "x" * 40)
    assert client.get("/orders/").status_code == 302  # the old cookie no longer signs anyone in
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [old_key])
    assert client.get("/orders/").status_code == 200
    serializers = app.session_interface._serializers
    assert len(serializers) == 3 and {key[0] for key in serializers} == {old_key, app.secret_key}

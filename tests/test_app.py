"""The Storefront extension itself: app factory, mounting, configuration,
secret key, templates, OpenAPI and security headers."""
from __future__ import annotations

import os
import stat

import pytest
from flask import Flask

from storefront import Storefront, create_app, get_state
from storefront.config import from_environment, instance_secret_key
from storefront.extensions import db

from .conftest import make_test_app


def _dispose(*apps) -> None:
    for each in apps:
        with each.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def clean_env(monkeypatch):
    """No STOREFRONT_* variables from the developer's shell leak into these tests."""
    for key in list(os.environ):
        if key.startswith("STOREFRONT_") and not key.startswith("STOREFRONT_TEST_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_create_app_twice_in_one_process(app, database_url, tmp_path):
    first = make_test_app(database_url, str(tmp_path / "a"))
    second = make_test_app(database_url, str(tmp_path / "b"))
    try:
        assert first is not second
        one, two = get_state(first), get_state(second)
        assert one.host is not two.host and one.host.pm is not two.host.pm
        assert one.api is not two.api
        assert one.host.app is first and two.host.app is second
        for each in (first, second):
            response = each.test_client().get("/api/v1/openapi.json")
            assert response.status_code == 200
            assert response.get_json()["paths"]
    finally:
        _dispose(first, second)


def _host_app(tmp_path, database_url, **config) -> Flask:
    host = Flask("host_application", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"),
                 template_folder=str(tmp_path / "templates"))
    host.config.update({"TESTING": True, "SECRET_KEY": "host-secret", "SQLALCHEMY_DATABASE_URI": database_url,
                        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                        "STOREFRONT_LOAD_ENTRY_POINTS": False, "STOREFRONT_HUEY_IMMEDIATE": True,
                        "STOREFRONT_URL_PREFIX": "/shop", **config})

    @host.get("/")
    def host_home():
        return "the host's own home page"

    @host.get("/about")
    def host_about():
        return "about the host"

    return host


def test_mount_under_a_url_prefix_in_a_host_app(app, database_url, tmp_path):
    host = _host_app(tmp_path, database_url)
    Storefront(host)
    try:
        client = host.test_client()
        assert client.get("/").get_data(as_text=True) == "the host's own home page"
        assert client.get("/about").get_data(as_text=True) == "about the host"
        shop_home = client.get("/shop/")
        assert shop_home.status_code == 200
        spec = client.get("/shop/api/v1/openapi.json")
        assert spec.status_code == 200
        assert spec.get_json()["paths"]
        assert client.get("/api/v1/openapi.json").status_code == 404
        rules = {r.rule for r in host.url_map.iter_rules()}
        shop_rules = rules - {"/", "/about", "/static/<path:filename>"}
        assert shop_rules and all(r.startswith("/shop/") for r in shop_rules), \
            sorted(r for r in shop_rules if not r.startswith("/shop/"))
        with host.test_request_context():
            from flask import url_for

            assert url_for("catalog.home").startswith("/shop")
    finally:
        _dispose(host)


def test_host_templates_override_the_shops(app, database_url, tmp_path):
    override = tmp_path / "templates" / "storefront"
    override.mkdir(parents=True)
    (override / "error.html").write_text("HOST ERROR PAGE {{ code }}")
    host = _host_app(tmp_path, database_url)
    Storefront(host)
    try:
        response = host.test_client().get("/shop/products/no-such-product")
        assert response.status_code == 404
        assert response.get_data(as_text=True) == "HOST ERROR PAGE 404"
    finally:
        _dispose(host)


def test_secret_key_is_generated_once_with_0600_and_reused(app, database_url, tmp_path, clean_env):
    instance = tmp_path / "instance"
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "STOREFRONT_LOAD_ENTRY_POINTS": False}
    first = create_app(dict(config), instance_path=str(instance))
    key_file = instance / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = first.config["SECRET_KEY"]
    assert key and len(key) >= 32 and key_file.read_text().strip() == key
    second = create_app(dict(config), instance_path=str(instance))
    assert second.config["SECRET_KEY"] == key
    other = create_app(dict(config), instance_path=str(tmp_path / "other"))
    assert other.config["SECRET_KEY"] != key  # per installation, never a shared default
    _dispose(first, second, other)


def test_instance_secret_key_never_overwrites(tmp_path):
    (tmp_path / "secret_key").write_text("kept\n")
    assert instance_secret_key(str(tmp_path)) == "kept"


def test_configuration_from_storefront_environment_variables(app, database_url, tmp_path, clean_env):
    clean_env.setenv("STOREFRONT_SECRET_KEY", "from-the-environment")
    clean_env.setenv("STOREFRONT_DATABASE_URL", database_url)
    clean_env.setenv("STOREFRONT_CURRENCY", "VND")
    clean_env.setenv("STOREFRONT_MAX_IMAGE_BYTES", "1234")
    clean_env.setenv("STOREFRONT_LOCALES", '["en", "vi"]')
    clean_env.setenv("STOREFRONT_LOAD_ENTRY_POINTS", "false")
    shop = create_app({"TESTING": True, "STOREFRONT_TIMEZONE": "Asia/Ho_Chi_Minh"},
                      instance_path=str(tmp_path))
    try:
        assert shop.config["SECRET_KEY"] == "from-the-environment"
        assert not (tmp_path / "secret_key").exists()
        assert shop.config["SQLALCHEMY_DATABASE_URI"].split("://")[1] == database_url.split("://")[1]
        assert shop.config["STOREFRONT_CURRENCY"] == "VND"
        assert shop.config["STOREFRONT_MAX_IMAGE_BYTES"] == 1234
        assert shop.config["STOREFRONT_LOCALES"] == ["en", "vi"]
        assert shop.config["STOREFRONT_LOAD_ENTRY_POINTS"] is False
        assert shop.config["STOREFRONT_TIMEZONE"] == "Asia/Ho_Chi_Minh"  # explicit config wins
        assert shop.config["STOREFRONT_SMTP_PORT"] == 25  # untouched default
    finally:
        _dispose(shop)


def test_explicit_config_beats_the_environment(app, database_url, tmp_path, clean_env):
    clean_env.setenv("STOREFRONT_CURRENCY", "VND")
    shop = make_test_app(database_url, str(tmp_path), STOREFRONT_CURRENCY="CNY")
    assert shop.config["STOREFRONT_CURRENCY"] == "CNY"
    _dispose(shop)


def test_from_environment_maps_and_decodes():
    found = from_environment({"STOREFRONT_DATABASE_URL": "sqlite:///x.db", "STOREFRONT_SECRET_KEY": "s",
                              "STOREFRONT_SMTP_TLS": "true", "STOREFRONT_MAIL_FROM": "shop@example.com",
                              "STOREFRONT_TEST_DATABASE_URL": "postgresql://ignored", "HOME": "/root"})
    assert found == {"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db", "SECRET_KEY": "s",
                     "STOREFRONT_SMTP_TLS": True, "STOREFRONT_MAIL_FROM": "shop@example.com"}


def test_postgres_urls_use_psycopg3(app, tmp_path):
    shop = create_app({"TESTING": True, "SECRET_KEY": "x", "STOREFRONT_LOAD_ENTRY_POINTS": False,
                       "SQLALCHEMY_DATABASE_URI": "postgres://u@127.0.0.1:1/none"},
                      instance_path=str(tmp_path))
    assert shop.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@127.0.0.1:1/none"


def test_openapi_document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["paths"], "the API lists no paths"
    assert all(path.startswith("/api/v1/") for path in spec["paths"]), list(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("path", ["/", "/api/v1/openapi.json", "/no-such-page"])
def test_security_headers(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors" in csp


def test_session_cookie_flags(app):
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_proxy_fix_trusts_exactly_the_configured_proxies(app, database_url, tmp_path):
    from flask import request

    behind = make_test_app(database_url, str(tmp_path / "a"), STOREFRONT_PROXY_COUNT=1)
    direct = make_test_app(database_url, str(tmp_path / "b"))
    for each in (behind, direct):
        each.add_url_rule("/_whoami", "whoami", lambda: f"{request.remote_addr} {request.scheme}")
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    try:
        assert behind.test_client().get("/_whoami", headers=headers).text == "203.0.113.7 https"
        # Not configured: a client cannot spoof its address past the rate limits.
        assert direct.test_client().get("/_whoami", headers=headers).text == "127.0.0.1 http"
    finally:
        _dispose(behind, direct)


def test_https_setting_secures_cookies(app, database_url, tmp_path):
    shop = make_test_app(database_url, str(tmp_path), STOREFRONT_HTTPS=True)
    assert shop.config["SESSION_COOKIE_SECURE"] is True
    assert shop.config["REMEMBER_COOKIE_SECURE"] is True
    assert shop.config["PREFERRED_URL_SCHEME"] == "https"
    assert not app.config.get("SESSION_COOKIE_SECURE")  # the plain test app is unaffected
    _dispose(shop)


def test_the_shop_remembers_that_its_functions_are_synchronous(app):
    """``ShopFlask.ensure_sync`` answers as Flask does, once per function: a request asks it
    of every hook and view again. A coroutine function is still handed to Flask's async
    support (which refuses without the ``async`` extra), and the memory is bounded."""
    from storefront import ShopFlask

    assert isinstance(app, ShopFlask)

    def plain():
        return "plain"

    async def coroutine():  # pragma: no cover - never awaited
        return "async"

    asked = []
    original = Flask.ensure_sync

    def counting(self, func):
        asked.append(func)
        return original(self, func)

    shop = ShopFlask("ensure_sync_test")
    try:
        Flask.ensure_sync = counting
        assert shop.ensure_sync(plain) is plain and shop.ensure_sync(plain) is plain
        assert asked == [plain]  # the second answer came from the memory
        with pytest.raises(RuntimeError, match="async"):
            shop.ensure_sync(coroutine)
        unhashable = type("Unhashable", (), {"__call__": lambda self: 1, "__eq__": lambda s, o: s is o})()
        assert shop.ensure_sync(unhashable) is unhashable
        shop._SYNC_LIMIT = len(shop._sync_callables)
        fresh = [lambda: i for i in range(3)]
        assert [shop.ensure_sync(f) for f in fresh] == fresh
        assert len(shop._sync_callables) == shop._SYNC_LIMIT
    finally:
        Flask.ensure_sync = original
    with app.test_client() as client:  # the shop serves pages through it
        assert client.get("/").status_code == 200

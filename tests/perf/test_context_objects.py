"""The objects behind Flask's context proxies (``storefront.context_objects``, issue 9).

The helpers return what the proxies would reach, and None where the proxies would find
no context; the pages the shop serves most reach Werkzeug's proxies only from the
libraries, not from the shop's own helpers.
"""
from __future__ import annotations

import contextvars
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import current_app, g, request, session
from flask_login import login_user, logout_user
from werkzeug import local as werkzeug_local

from storefront.context_objects import (app_object, g_object, query_value, request_object, session_object,
                                        signed_in_user, user_object)
from tests.conftest import new_client
from tests.factories import make_user, sign_in

from .conftest import give_cart

ROOT = Path(__file__).resolve().parents[2]
SHOP_CODE = (str(ROOT / "storefront") + "/", str(ROOT / "plugins") + "/")


def test_outside_any_context_there_is_nothing(app):
    # The suite keeps an app context pushed; an empty context of context variables has none.
    def outside():
        assert g_object() is None and request_object() is None
        assert user_object() is None and signed_in_user() is None and query_value("q") is None
        with pytest.raises(RuntimeError):
            app_object()
        with pytest.raises(RuntimeError):
            session_object()
        return True

    assert contextvars.Context().run(outside)


def test_an_app_context_without_a_request(app):
    with app.app_context():
        assert g_object() is g._get_current_object()
        assert app_object() is current_app._get_current_object() is app
        assert request_object() is None
        assert user_object() is None and signed_in_user() is None


def test_in_a_request_they_are_the_proxies_objects(app):
    with app.test_request_context("/cart/?lang=vi"):
        assert request_object() is request._get_current_object()
        assert request_object().args["lang"] == "vi"
        assert session_object() is session._get_current_object()
        assert g_object() is g._get_current_object()


def test_a_query_value_as_args_get_gives_it(app):
    with app.test_request_context("/?q=tee&q=jacket&lang=&empty"):
        for name in ("q", "lang", "empty", "absent"):
            assert query_value(name) == request.args.get(name)
        assert query_value("q") == "tee" and query_value("lang") == "" and query_value("absent") is None
    with app.app_context():
        assert query_value("q") is None


def test_the_search_box_shows_the_query_and_nothing_without_one(client):
    html = client.get("/products?q=%3Cb%3Ewool").get_data(as_text=True)
    assert 'value="&lt;b&gt;wool"' in html
    assert 'id="q" name="q" type="search" placeholder="Search products" value=""' in client.get("/").get_data(
        as_text=True)


def test_the_user_anonymous_signed_in_and_signed_out(app):
    buyer = make_user()
    with app.test_request_context("/"):
        anonymous = user_object()
        assert anonymous is not None and not anonymous.is_authenticated
        assert signed_in_user() is None
        login_user(buyer)
        assert user_object() is buyer and signed_in_user() is buyer
        logout_user()
        assert signed_in_user() is None and not user_object().is_authenticated


def test_the_user_is_loaded_from_the_session_on_first_use(app):
    """Nothing has asked Flask-Login for the user yet: user_object() loads it, as
    current_user would, and keeps it where current_user finds it."""
    buyer = make_user()
    buyer_id = buyer.id
    client = new_client(app)
    sign_in(client, buyer)
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    with app.test_request_context("/", headers={"Cookie": f"{cookie.key}={cookie.value}"}):
        assert "_login_user" not in g._get_current_object().__dict__
        user = user_object()
        assert user.is_authenticated and user.id == buyer_id
        assert g._login_user is user and signed_in_user() is user


@contextmanager
def _proxy_lookups_from_the_shop():
    """Count attribute look-ups through Werkzeug's proxies made by the shop's own code."""
    seen: list[str] = []
    lookup = werkzeug_local._ProxyLookup.__get__

    def counted(self, instance, owner=None):
        if instance is not None:
            caller = sys._getframe(1).f_code
            if caller.co_filename.startswith(SHOP_CODE):
                seen.append(f"{caller.co_filename[len(str(ROOT)) + 1:]}:{caller.co_name}")
        return lookup(self, instance, owner)

    werkzeug_local._ProxyLookup.__get__ = counted
    try:
        yield seen
    finally:
        werkzeug_local._ProxyLookup.__get__ = lookup


@pytest.mark.parametrize("path", ["/cart/", "/checkout/", "/"])
def test_the_busiest_pages_reach_the_proxies_only_a_few_times_from_the_shop(app, shop, path):
    """The shop's own code made 194 proxy look-ups on a signed-in cart page and 218 on a
    checkout page, most from helpers asked many times a request (the locale, the CSRF token,
    the plugin states, the settings, amounts of money, the buyer passed on as a proxy), at
    about 0.8 µs each; now 13 and 18. Code that runs once a request may use the proxies."""
    give_cart(shop["buyer"], [shop["presale"].skus[0], shop["plain"][0].skus[0]])
    client = new_client(app)
    sign_in(client, shop["buyer"])
    client.get(path)  # per-process caches warm, as in a running shop
    with _proxy_lookups_from_the_shop() as seen:
        response = client.get(path)
    assert response.status_code == 200
    print(len(seen), *seen, sep="\n")
    assert len(seen) <= 20

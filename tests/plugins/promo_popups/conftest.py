"""Fixtures for the promo popups plugin: an app with the plugin installed and enabled.

The plugin's models are imported here, at collection time, so that the
session app's ``db.create_all()`` creates its tables too.
"""
from __future__ import annotations

import hashlib
import itertools
import secrets
from datetime import datetime

import pytest
from flask import g, render_template_string

import plugins.promo_popups.models  # noqa: F401  (tables in the metadata before the schema is created)
from plugins.promo_popups import services
from plugins.promo_popups.targeting import clear_cache
from storefront.accounts.models import ApiToken
from storefront.extensions import db
from tests.conftest import make_test_app, pushed_app, rate_limits_on
from tests.factories import make_staff, make_user, set_plugin_state, sign_in  # noqa: F401

PLUGINS = ["plugins.promo_popups"]
#: Test pages standing in for the shop's pages (any page extending storefront/base.html works the same).
PAGES = {"home": "/_pp/home", "product": "/_pp/product", "category": "/_pp/category", "cart": "/_pp/cart",
         "other": "/_pp/other", "checkout": "/checkout/_pp", "pay": "/pay/_pp"}
PAGE_ENDPOINTS = {"pp_test_home": "home", "pp_test_product": "product", "pp_test_category": "category",
                  "pp_test_cart": "cart"}
# Endpoints base.html links to; stubbed only while the core does not provide them yet.
BASE_ENDPOINTS = ["catalog.home", "catalog.products", "cart.view_cart", "accounts.login", "accounts.register",
                  "accounts.logout", "admin.dashboard", "orders.list_orders", "admin.orders", "admin.products",
                  "admin.plugins", "admin.settings", "admin.audit", "accounts.messages", "accounts.addresses",
                  "accounts.password"]
PAGE_TEMPLATE = '{% extends "storefront/base.html" %}{% block content %}<p id="page">{{ name }}</p>{% endblock %}'
_ips = itertools.count(1)


def _fresh_g():
    # The test fixtures keep one app context pushed, so Flask reuses it (and its
    # ``g``) for every request of a test; production has a fresh ``g`` per request.
    g.__dict__.clear()


def _prepare(app):
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_g)
    for endpoint in BASE_ENDPOINTS:
        if endpoint not in app.view_functions:
            app.add_url_rule(f"/_stub/{endpoint}", endpoint=endpoint, view_func=lambda **kw: "stub",
                             methods=["GET", "POST"])
    for name, path in PAGES.items():
        app.add_url_rule(path, endpoint=f"pp_test_{name}",
                         view_func=lambda name=name: render_template_string(PAGE_TEMPLATE, name=name))
    return app


def _make(database_url, instance_dir, **extra):
    return _prepare(make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS,
                                  PROMO_POPUPS_PAGE_ENDPOINTS=PAGE_ENDPOINTS, **extra))


@pytest.fixture(scope="session")
def _pp_app(_app, database_url, instance_dir):
    return _make(database_url, instance_dir)


@pytest.fixture(scope="session")
def _secure_app(_app, database_url, instance_dir):
    return _make(database_url, instance_dir, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True)


@pytest.fixture
def app(app, _pp_app):
    """The plugin app on a clean database (the core ``app`` fixture wipes it afterwards)."""
    with pushed_app(_pp_app):
        clear_cache()
        yield _pp_app


def _client(flask_app):
    client = flask_app.test_client()
    # Own address per client: rate-limit counters of one test never reach another.
    n = next(_ips)
    client.environ_base.update({"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
                                "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"})
    return client


@pytest.fixture
def client(app):
    return _client(app)


@pytest.fixture
def secure_client(secure_app):
    with secure_app.app_context():
        clear_cache()
    with rate_limits_on():
        yield _client(secure_app)


@pytest.fixture
def enabled(app):
    set_plugin_state("promo_popups")
    return True


def bearer(user) -> dict:
    raw = secrets.token_hex(16)
    db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                            expires_at=datetime(2999, 1, 1)))
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def make_popup(**data):
    values = {"title": "Double 11", "body": "<p>Sale</p>", "pages": ["all"], "frequency": "always"}
    values.update(data)
    return services.create_popup(values)


@pytest.fixture
def staff(app):
    return make_staff()


@pytest.fixture
def buyer(app):
    return make_user()

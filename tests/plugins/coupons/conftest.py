"""Fixtures for the coupons plugin: an app with coupons and free_shipping installed.

The plugin's models are imported at collection time so the session schema has its tables.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import pytest

import plugins.coupons.models  # noqa: F401  (tables in the metadata before the schema is created)
from plugins.coupons import admin_services
from storefront.accounts.models import ApiToken
from storefront.cart import services as cart_services
from storefront.extensions import db
from tests.conftest import IsolatedClient, make_test_app, pushed_app, rate_limits_on
from tests.factories import make_staff, make_user, set_plugin_state, sign_in  # noqa: F401

PLUGINS = ["plugins.coupons", "plugins.free_shipping"]


@pytest.fixture(scope="session")
def _cp_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS)


@pytest.fixture(scope="session")
def _cp_secure_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, WTF_CSRF_ENABLED=True,
                         RATELIMIT_ENABLED=True)


@pytest.fixture
def app(app, _cp_app):
    with pushed_app(_cp_app):
        yield _cp_app




_ip = iter(range(1, 10**6))


def new_client(flask_app) -> IsolatedClient:
    client = IsolatedClient(flask_app, flask_app.response_class, use_cookies=True)
    n = next(_ip)
    client.environ_base.update({"REMOTE_ADDR": f"10.9.{n // 256 % 256}.{n % 256}"})
    return client


@pytest.fixture
def web(app):
    return new_client(app)


@pytest.fixture
def secure_web(app, _cp_secure_app):
    with rate_limits_on():
        yield new_client(_cp_secure_app)


def set_state(name: str, enabled: bool = True, **settings) -> None:
    set_plugin_state(name, enabled, settings)


@pytest.fixture
def enabled(app):
    set_state("coupons")
    return True




def bearer(user) -> dict:
    raw = secrets.token_hex(16)
    db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                            expires_at=datetime(2999, 1, 1)))
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def make_coupon(**data):
    values = {"name": "Ten off", "kind": "fixed", "amount": 1000, "per_buyer_limit": None}
    values.update(data)
    return admin_services.create_coupon(values)


def fill_cart(app, user, *items):
    with app.test_request_context():
        cart = cart_services.get_cart(create=True, user=user)
        for sku, quantity in items:
            cart_services.add_item(cart, sku.id, quantity)
    return user


@pytest.fixture
def staff(app):
    return make_staff()


@pytest.fixture
def buyer(app):
    return make_user()

"""Fixtures for the order tracking plugin: an app with the plugin installed and enabled.

The plugin's models are imported at collection time so the session schema has its tables.
Clients run every request in a fresh app context (see tests/accounts/conftest.py).
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time

import pytest

import plugins.order_tracking.models  # noqa: F401  (tables in the metadata before the schema is created)
from tests.conftest import pushed_app, IsolatedClient, make_test_app
from tests.factories import make_staff, make_user, set_plugin_state

PLUGINS = ["plugins.order_tracking"]
SECRET = "whsec-test-0123456789abcdef"
_ips = itertools.count(1)




def new_client(flask_app) -> IsolatedClient:
    client = IsolatedClient(flask_app, flask_app.response_class, use_cookies=True)
    n = next(_ips)
    client.environ_base.update({"REMOTE_ADDR": f"10.9.{n // 256 % 256}.{n % 256}"})
    return client


@pytest.fixture(scope="session")
def _ot_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS)


@pytest.fixture(scope="session")
def _ot_limited_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, RATELIMIT_ENABLED=True)


@pytest.fixture(scope="session")
def _ot_secure_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, WTF_CSRF_ENABLED=True)


@pytest.fixture
def app(app, _ot_app):
    """The plugin app on a clean database (the core ``app`` fixture wipes it afterwards)."""
    with pushed_app(_ot_app):
        yield _ot_app


@pytest.fixture
def client(app):
    return new_client(app)


@pytest.fixture
def limited_client(app, _ot_limited_app):
    return new_client(_ot_limited_app)


@pytest.fixture
def secure_client(app, _ot_secure_app):
    return new_client(_ot_secure_app)


def enable(settings: dict | None = None, enabled: bool = True) -> None:
    set_plugin_state("order_tracking", enabled, settings or {"webhook_secret": SECRET}, replace=True)


@pytest.fixture
def enabled(app):
    enable()
    return True


@pytest.fixture
def staff(app):
    return make_staff()


@pytest.fixture
def buyer(app):
    return make_user()


def signed_headers(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Tracking-Timestamp": ts, "X-Tracking-Signature": f"sha256={digest}",
            "Content-Type": "application/json"}


def push(client, payload, path="/p/tracking/webhook", **kw):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(path, data=body, headers=signed_headers(body, **kw))

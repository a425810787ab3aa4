"""Fixtures for the free-shipping plugin: an app with the plugin installed (and enabled by ``enabled``)."""
from __future__ import annotations

import pytest

from storefront.cart import services as cart_services
from tests.checkout.helpers import fresh_client
from tests.conftest import pushed_app, make_test_app
from tests.factories import make_user, set_plugin_state

PLUGINS = ["plugins.free_shipping"]


@pytest.fixture(scope="session")
def _fs_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS)


@pytest.fixture
def app(app, _fs_app):
    """The plugin app on a clean database (the core ``app`` fixture wipes it afterwards)."""
    with pushed_app(_fs_app):
        yield _fs_app


@pytest.fixture
def web(app):
    return fresh_client(app)


def configure(enabled=True, **settings):
    """Store the plugin's state (what the owner's plugin page does)."""
    values = {"thresholds": "courier:99.00", "basis": "after", "excluded_regions": "", **settings}
    set_plugin_state("free_shipping", enabled, values, replace=True)


@pytest.fixture
def enabled(app):
    configure()
    return True


def buyer_with_cart(app, *items, user=None):
    user = user or make_user()
    with app.test_request_context():
        cart = cart_services.get_cart(create=True, user=user)
        for sku, quantity in items:
            cart_services.add_item(cart, sku.id, quantity)
    return user

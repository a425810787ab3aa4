"""Fixtures for the store pickup plugin: an app with the plugin installed (and enabled).

The plugin's models are imported at collection time so the session schema has its tables.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

import pytest

import plugins.store_pickup.models  # noqa: F401  (tables in the metadata before the schema is created)
from plugins.store_pickup import services
from storefront.accounts.models import ApiToken
from storefront.cart.models import Cart, CartLine
from storefront.checkout.services import place_order
from storefront.extensions import db
from storefront.payments.services import confirm_payment
from tests.conftest import pushed_app, IsolatedClient, make_test_app
from tests.factories import make_product, make_staff, make_user, set_plugin_state, sign_in  # noqa: F401

PLUGINS = ["plugins.store_pickup"]
ALL_DAY = {str(d): "00:00-24:00" for d in range(7)}




def new_client(app) -> IsolatedClient:
    return IsolatedClient(app, app.response_class, use_cookies=True)


def thread_client(app) -> IsolatedClient:
    """For worker threads too: IsolatedClient pushes its own app context per request."""
    return new_client(app)


@pytest.fixture(scope="session")
def _sp_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS)


@pytest.fixture(scope="session")
def _sp_secure_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, WTF_CSRF_ENABLED=True)


@pytest.fixture(scope="session")
def _sp_limited_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, RATELIMIT_ENABLED=True,
                         STOREFRONT_PICKUP_VERIFY_LIMIT="3 per minute")


@pytest.fixture
def limited_client(app, _sp_limited_app):
    """A client of the plugin app with rate limits on (code entry: 3 per minute)."""
    return new_client(_sp_limited_app)


@pytest.fixture
def app(app, _sp_app):
    """The plugin app on a clean database (the core ``app`` fixture wipes it afterwards)."""
    with pushed_app(_sp_app):
        yield _sp_app


@pytest.fixture
def client(app):
    return new_client(app)


@pytest.fixture
def secure_client(app, _sp_secure_app):
    return new_client(_sp_secure_app)


def set_enabled(on: bool, **settings) -> None:
    set_plugin_state("store_pickup", on, settings)


@pytest.fixture
def enabled(app):
    set_enabled(True)
    return True




def bearer(user) -> dict:
    raw = secrets.token_hex(16)
    db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                            expires_at=datetime(2999, 1, 1)))
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def make_location(**overrides):
    data = {"name": "Jing'an store", "address": "1601 Nanjing West Road", "city": "Shanghai",
            "province": "Shanghai", "phone": "+86 21 6288 0000", "map_url": "https://example.com/map",
            "hours": ALL_DAY, "prep_minutes": 0, "slot_minutes": 60, "slot_capacity": 5}
    data.update(overrides)
    return services.create_location(data)


def fill_cart(user, sku_id: int, quantity: int = 1) -> None:
    db.session.add(Cart(user_id=user.id, data={}, lines=[CartLine(sku_id=sku_id, quantity=quantity)]))
    db.session.commit()


def pickup_extra(location, slot=None, name="Han Meimei", phone="13900001111") -> dict:
    slot = slot or services.available_slots(location)[0]
    return {services.FIELD_SLOT: slot.key, services.FIELD_NAME: name, services.FIELD_PHONE: phone}


def place_pickup_order(user, location, *, product=None, slot=None, pay=True):
    """Check a one-item cart out for pickup through the real service; pay it with the test provider."""
    product = product or make_product(stock=100)
    fill_cart(user, product.skus[0].id)
    result = place_order(user, idempotency_key=uuid.uuid4().hex, delivery_code=services.OPTION_CODE,
                         extra=pickup_extra(location, slot))
    if pay:
        from storefront.payments.providers import TestProvider

        payment = result.payment
        confirm_payment(TestProvider.provider_ref_for(payment), payment.amount,
                        payment_reference=payment.reference, provider_name=TestProvider.name)
    db.session.expire_all()
    return result.orders[0]


@pytest.fixture
def staff(app):
    return make_staff()


@pytest.fixture
def buyer(app):
    return make_user()


@pytest.fixture
def location(app, enabled):
    return make_location()

"""Fixtures for the presale plugin: an app with the plugin installed (and enabled), campaigns, checkouts.

The plugin's models are imported at collection time so the session schema has its tables.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

import plugins.presale.models  # noqa: F401  (tables in the metadata before the schema is created)
from plugins.presale import campaigns
from storefront.cart.models import Cart, CartLine
from storefront.checkout.services import place_order
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.payments.models import Payment
from storefront.payments.providers import TestProvider
from storefront.payments.services import confirm_payment
from tests.checkout.helpers import ADDRESS, api_token  # noqa: F401
from tests.conftest import IsolatedClient, make_test_app, pushed_app
from tests.factories import make_product, make_staff, make_user, set_plugin_state, sign_in  # noqa: F401

PLUGINS = ["plugins.presale"]


def new_client(app) -> IsolatedClient:
    return IsolatedClient(app, app.response_class, use_cookies=True)


@pytest.fixture(scope="session")
def _ps_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS)


@pytest.fixture(scope="session")
def _ps_secure_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, WTF_CSRF_ENABLED=True)


@pytest.fixture
def app(app, _ps_app):
    with pushed_app(_ps_app):
        yield _ps_app


@pytest.fixture
def client(app):
    return new_client(app)


@pytest.fixture
def secure_client(app, _ps_secure_app):
    return new_client(_ps_secure_app)


def set_enabled(on: bool, **settings) -> None:
    set_plugin_state("presale", on, settings)


@pytest.fixture
def enabled(app):
    set_enabled(True)
    return True


@pytest.fixture
def staff(app):
    return make_staff()


@pytest.fixture
def buyer(app):
    return make_user()


def full_campaign(product=None, *, quota=10, price=None, limit=None, days=None, ship_by=None, starts=None,
                  ends=None, stock=0, **extra):
    """A full-payment presale of ``product`` (default: a new product with no spot stock)."""
    product = product or make_product(price=10000, stock=stock)
    now = utcnow()
    data = {"product_id": product.id, "mode": "full", "starts_at": starts or now - timedelta(hours=1),
            "ends_at": ends or now + timedelta(days=7), "promise_kind": "days" if days else "date",
            "ship_by_date": ship_by or (date.today() + timedelta(days=30)), "ship_within_days": days,
            "price": price, "per_buyer_limit": limit, "quotas": {product.skus[0].id: quota}, **extra}
    campaign = campaigns.create_campaign(data, None)
    db.session.commit()
    return campaign, product


def deposit_campaign(product=None, *, quota=10, deposit=2000, value=3000, opens=None, closes=None,
                     return_deposit=False, **extra):
    """A deposit presale: 10000 item, deposit 2000 counting as 3000; balance window in 2-3 days."""
    product = product or make_product(price=10000, stock=0)
    now = utcnow()
    return full_campaign(product, quota=quota, mode="deposit", deposit=deposit, deposit_value=value,
                         balance_opens_at=opens or now + timedelta(days=2),
                         balance_closes_at=closes or now + timedelta(days=3),
                         return_deposit=return_deposit, **extra)


def fill_cart(user, *items) -> None:
    """``items``: (sku id, quantity) pairs."""
    cart = db.session.execute(db.select(Cart).where(Cart.user_id == user.id)).scalar_one_or_none()
    if cart is None:
        cart = Cart(user_id=user.id, data={})
        db.session.add(cart)
    for sku_id, quantity in items:
        cart.lines.append(CartLine(sku_id=sku_id, quantity=quantity))
    db.session.commit()


def checkout(user, *items, key=None):
    fill_cart(user, *items)
    return place_order(user, idempotency_key=key or uuid.uuid4().hex, address=dict(ADDRESS))


def pay(payment_reference: str):
    payment = db.session.execute(db.select(Payment).where(Payment.reference == payment_reference)).scalar_one()
    result = confirm_payment(TestProvider.provider_ref_for(payment), payment.amount,
                             payment_reference=payment.reference, provider_name=TestProvider.name)
    db.session.expire_all()
    return result


def fresh():
    db.session.rollback()
    db.session.expire_all()

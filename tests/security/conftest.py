"""The attack suite's shop: every bundled plugin installed and enabled (plus
the plugins still in progress when they load), the demo shop seeded, and two
buyers who must never see each other's things.

In-progress plugins are discovered from ``plugins/`` rather than listed, so a
plugin that appears later is attacked too. Their models are imported at
collection time so the session schema has their tables; one that fails to
import is reported in ``BROKEN_PLUGINS`` and left out.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import pytest

import plugins as plugins_package
from storefront.config import BUNDLED_PLUGINS
from storefront.extensions import db
from tests.conftest import IsolatedClient, make_test_app, pushed_app
from tests.factories import cached_demo_pictures, make_user, set_plugin_state

BROKEN_PLUGINS: dict[str, str] = {}


def _all_plugins() -> list[str]:
    names = list(BUNDLED_PLUGINS)
    for info in pkgutil.iter_modules(plugins_package.__path__):
        module = f"plugins.{info.name}"
        if not info.ispkg or module in names:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # an unfinished plugin must not stop the suite
            BROKEN_PLUGINS[module] = f"{type(exc).__name__}: {exc}"
            continue
        names.append(module)
    return names


ALL_PLUGINS = _all_plugins()
IN_PROGRESS = [name for name in ALL_PLUGINS if name not in BUNDLED_PLUGINS]


def new_client(app) -> IsolatedClient:
    return IsolatedClient(app, app.response_class, use_cookies=True)


def _build(database_url, instance_dir, **overrides):
    global ALL_PLUGINS
    try:
        return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=ALL_PLUGINS, **overrides)
    except Exception as exc:  # an in-progress plugin that imports but does not load
        for name in IN_PROGRESS:
            BROKEN_PLUGINS.setdefault(name, f"app does not start with it: {type(exc).__name__}: {exc}")
        ALL_PLUGINS = list(BUNDLED_PLUGINS)
        return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=ALL_PLUGINS, **overrides)


@pytest.fixture(scope="session")
def _sec_app(_app, database_url, instance_dir):
    shop = _build(database_url, instance_dir)
    with shop.app_context():
        db.create_all()  # tables of in-progress plugins imported after the session schema
    return shop


@pytest.fixture(scope="session")
def _sec_csrf_app(_sec_app, database_url, instance_dir):
    return _build(database_url, instance_dir, WTF_CSRF_ENABLED=True)


@pytest.fixture
def app(app, _sec_app, tmp_path, monkeypatch):
    """The full shop on a clean database (the core ``app`` fixture wipes it afterwards)."""
    monkeypatch.setitem(_sec_app.config, "STOREFRONT_UPLOAD_DIR", str(tmp_path / "uploads"))
    with pushed_app(_sec_app):
        yield _sec_app


@pytest.fixture
def csrf_app(app, _sec_csrf_app, monkeypatch):
    monkeypatch.setitem(_sec_csrf_app.config, "STOREFRONT_UPLOAD_DIR", app.config["STOREFRONT_UPLOAD_DIR"])
    return _sec_csrf_app


@dataclass
class World:
    owner: object
    staff: object
    buyer: object        # owns the demo orders, an address, a payment
    other: object        # another customer, the attacker in the object tests
    tokens: dict          # role -> Authorization header
    values: dict          # URL parameter -> buyer's object (number, address_id, reference...)
    other_values: dict    # the same for the other buyer


def _token(user) -> dict:
    from tests.orders.factories import make_token

    return make_token(user)


@pytest.fixture
def world(app) -> World:
    """The demo shop with every plugin enabled, and a second customer with her own order."""
    from sqlalchemy import select

    from storefront.accounts.models import Address, Role, User
    from storefront.demo import seed_demo
    from storefront.orders.models import Order
    from tests.orders.factories import make_order

    with cached_demo_pictures():
        assert seed_demo()
    for module in ALL_PLUGINS:
        set_plugin_state(module.rsplit(".", 1)[1], True)
    users = {u.role: u for u in db.session.execute(select(User)).scalars()}
    buyer, owner = users[Role.BUYER], users[Role.OWNER]
    staff = users[Role.STAFF]
    other = make_user(name="Mallory")
    other.addresses.append(Address(name="Mallory", phone="13700000000", province="Jiangsu", city="Nanjing",
                                   district="Gulou", postcode="210000", line1="2 Zhongshan Rd", is_default=True))
    db.session.commit()
    other_order = make_order(other)
    mine = db.session.execute(select(Order).where(Order.user_id == buyer.id).order_by(Order.id)).scalars().first()
    values = {"number": mine.number, "address_id": buyer.addresses[0].id, "reference": mine.payment.reference,
              "order_id": mine.id}
    other_values = {"number": other_order.number, "address_id": other.addresses[0].id,
                    "reference": other_order.payment.reference, "order_id": other_order.id}
    tokens = {"owner": _token(owner), "staff": _token(staff), "buyer": _token(buyer), "other": _token(other)}
    return World(owner=owner, staff=staff, buyer=buyer, other=other, tokens=tokens, values=values,
                 other_values=other_values)


def signed_in(app, user) -> IsolatedClient:
    """A client whose session belongs to ``user`` (no login form, no rate limit)."""
    client = new_client(app)
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
    return client

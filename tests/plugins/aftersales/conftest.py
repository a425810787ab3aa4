"""Fixtures shared by both sides of the after-sales plugin's tests: an app with
the plugin installed (enabled by the ``enabled`` fixture), users, orders.

The plugin's models are imported at collection time so the session schema
has its tables (money_models come in through models.py).
"""
from __future__ import annotations

import pytest

import plugins.aftersales.models  # noqa: F401  (tables in the metadata before the schema is created)
from storefront.clock import utcnow  # noqa: F401
from storefront.extensions import db
from storefront.accounts.models import Role
from storefront.orders.status import OrderStatus
from tests.conftest import IsolatedClient, make_test_app, pushed_app
from tests.factories import make_product, make_staff, make_user, set_plugin_state, sign_in  # noqa: F401
from tests.orders.factories import make_order, make_token, reload, stock_of  # noqa: F401

PLUGIN = "aftersales"
PLUGINS = ["plugins.aftersales"]


def new_client(app) -> IsolatedClient:
    return IsolatedClient(app, app.response_class, use_cookies=True)


@pytest.fixture(scope="session")
def _as_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS)


@pytest.fixture(scope="session")
def _as_secure_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=PLUGINS, WTF_CSRF_ENABLED=True,
                         RATELIMIT_ENABLED=True)


@pytest.fixture
def app(app, _as_app):
    """The plugin app on a clean database (the core ``app`` fixture wipes it afterwards)."""
    with pushed_app(_as_app):
        yield _as_app


@pytest.fixture
def client(app):
    return new_client(app)


@pytest.fixture
def secure_client(app, _as_secure_app):
    """CSRF and rate limits on (same database)."""
    return new_client(_as_secure_app)


def set_enabled(on: bool = True, **settings) -> None:
    set_plugin_state(PLUGIN, on, settings)


@pytest.fixture
def enabled(app):
    set_enabled(True)
    return True


@pytest.fixture
def buyer(app):
    return make_user()


@pytest.fixture
def other_buyer(app):
    return make_user()


@pytest.fixture
def staff(app):
    return make_staff()


@pytest.fixture
def owner(app):
    return make_staff(role=Role.OWNER)


def bearer(user) -> dict:
    """Request headers with a fresh API token of ``user``."""
    return make_token(user)


def paid_order(user, **kwargs):
    """A paid, unshipped order (one line of ¥50 + ¥10 shipping unless told otherwise)."""
    return make_order(user, OrderStatus.PAID, **kwargs)


def shipped_order(user, **kwargs):
    return make_order(user, OrderStatus.SHIPPED, **kwargs)


def client_for(app, user) -> IsolatedClient:
    """A client signed in as ``user`` (no login page, no rate limit)."""
    c = new_client(app)
    sign_in(c, user)
    return c


def png_bytes(size=(8, 8), colour=(200, 30, 30), fmt="PNG") -> bytes:
    """A small real image, as a phone would send it."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def open_case(order, user, files=None, **data):
    """A request through the real service (defaults: refund-only of the whole first line)."""
    from plugins.aftersales import cases

    payload = {"kind": "refund_shipped", "reason": "price_difference", "description": "",
               "lines": {order.lines[0].id: order.lines[0].quantity}}
    payload.update(data)
    return cases.create_case(order, user, payload, files=files)


def case_events(case) -> list[tuple[str, str]]:
    """(kind, actor_kind) of the case's timeline, oldest first."""
    from plugins.aftersales.services import events_of

    return [(e.kind, e.actor_kind) for e in events_of(case)]


def order_event_kinds(order_id: int) -> list[str]:
    from sqlalchemy import select

    from storefront.orders.models import OrderEvent

    db.session.rollback()
    return list(db.session.execute(select(OrderEvent.kind).where(OrderEvent.order_id == order_id)
                                   .order_by(OrderEvent.id)).scalars())


def refunds_of(order_id: int) -> list:
    from sqlalchemy import select

    from storefront.payments.models import Refund

    db.session.rollback()
    return list(db.session.execute(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)).scalars())


def fresh_case(case_or_id):
    from plugins.aftersales.models import Case

    db.session.rollback()
    return db.session.get(Case, getattr(case_or_id, "id", case_or_id), populate_existing=True)

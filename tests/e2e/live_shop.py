"""The shop side of the end-to-end harness: the live server and the ``Shop`` helper.

Documented with the rest of the API at the top of harness.py (which re-exports
``LiveServer`` and ``Shop``).
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from datetime import timedelta

URL_RE = re.compile(r"https?://[^\s<>\"')]+")


class LiveServer:
    """A threaded werkzeug server for ``flask_app`` on a free port of 127.0.0.1."""

    def __init__(self, flask_app):
        import logging

        from werkzeug.serving import make_server

        # One line per request buries a failure's own output; errors still show.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.app = flask_app
        self.server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="e2e-server", daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=30)


def _forget_caches(flask_app):
    """Per-process caches of the served app keyed on rows the wipe removed."""
    from storefront.plugins.host import get_host

    with flask_app.app_context():
        for key in [k for k in flask_app.extensions if k.endswith("_cache") or k.endswith("_claimables")]:
            flask_app.extensions.pop(key, None)
        get_host().forget_states()


class Shop:
    demo_owner = ("seller@example.com", "seller-demo-123")
    demo_staff = ("staff@example.com", "staff-demo-123")
    demo_buyer = ("buyer@example.com", "buyer-demo-123")

    def __init__(self, server: LiveServer):
        self.server = server
        self.app = server.app
        self.base = server.base

    # -- set-up (the fixture calls these) ------------------------------------
    def seed(self):
        from storefront.demo import seed_demo
        from storefront.extensions import db
        from tests.factories import cached_demo_pictures

        self.set_clock(0)
        _forget_caches(self.app)
        with self.ctx(), cached_demo_pictures():
            assert seed_demo(), "the demo shop was not seeded (tables not empty?)"
            db.session.commit()
        _forget_caches(self.app)

    def forget_caches(self):
        """Drop the served app's per-process caches (after writing popups or coupons directly)."""
        _forget_caches(self.app)

    # -- places ---------------------------------------------------------------
    def url(self, path_or_link: str) -> str:
        """An absolute URL on the live server; an e-mailed link keeps only its path and query."""
        if path_or_link.startswith(("http://", "https://")):
            path_or_link = re.sub(r"^https?://[^/]+", "", path_or_link)
        return self.base + path_or_link

    @contextmanager
    def ctx(self):
        """The served app's context with a fresh session (sees everything committed so far)."""
        from storefront.extensions import db

        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()

    # -- people ---------------------------------------------------------------
    def make_buyer(self, **kw):
        from tests.factories import make_user

        with self.ctx():
            user = make_user(**kw)
            return _Detached(email=user.email, id=user.id, name=user.name)

    def make_staff(self, **kw):
        from tests.factories import make_staff

        with self.ctx():
            user = make_staff(**kw)
            return _Detached(email=user.email, id=user.id, name=user.name)

    # -- time -----------------------------------------------------------------
    @property
    def clock_offset(self) -> int:
        return int(self.app.config.get("STOREFRONT_CLOCK_OFFSET_SECONDS") or 0)

    def set_clock(self, seconds: int) -> None:
        # Read per call by storefront.clock.utcnow, in every server thread.
        self.app.config["STOREFRONT_CLOCK_OFFSET_SECONDS"] = int(seconds)

    def move_clock(self, days=0, hours=0, minutes=0, seconds=0) -> None:
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        self.set_clock(self.clock_offset + int(delta.total_seconds()))

    def now(self):
        from storefront.clock import utcnow

        with self.app.app_context():
            return utcnow()

    # -- background work ------------------------------------------------------
    def run_sweeps(self) -> dict:
        from storefront.jobs.queue import run_sweeps

        with self.ctx():
            return run_sweeps()

    def deliver(self) -> int:
        from storefront.jobs.queue import run_delivery

        with self.ctx():
            return run_delivery()

    # -- orders without the browser (for journeys whose subject comes later) -----
    def place_order(self, email: str, items, *, pay: bool = True, delivery_code: str | None = None,
                    address: dict | None = None) -> list[str]:
        """Put ``items`` [(sku code, quantity)] in ``email``'s cart and check out through the
        real services (test provider, paid unless ``pay=False``); returns the order numbers."""
        import secrets

        from sqlalchemy import select

        from storefront.accounts.models import User
        from storefront.cart.services import add_item, get_cart
        from storefront.catalog.models import Sku
        from storefront.checkout.services import place_order
        from storefront.extensions import db
        from storefront.orders.transitions import Actor
        from storefront.payments.providers import TestProvider
        from storefront.payments.services import confirm_payment

        address = address or {"name": "Li Lei", "phone": "13900000000", "province": "Shanghai",
                              "city": "Shanghai", "district": "Jing'an", "line1": "1601 Nanjing West Road",
                              "postcode": "200040"}
        with self.app.test_request_context("/"):
            try:
                buyer = db.session.execute(select(User).where(User.email == email)).scalar_one()
                cart = get_cart(create=True, user=buyer)
                for code, quantity in items:
                    sku = db.session.execute(select(Sku).where(Sku.code == code)).scalar_one()
                    add_item(cart, sku.id, quantity)
                result = place_order(buyer, idempotency_key=secrets.token_hex(16), delivery_code=delivery_code,
                                     address=address)
                numbers = [order.number for order in result.orders]
                if pay:
                    payment = result.payment
                    confirm_payment(TestProvider.provider_ref_for(payment), payment.amount,
                                    payment_reference=payment.reference, provider_name="test",
                                    actor=Actor.of(buyer))
                return numbers
            finally:
                db.session.remove()

    def ship(self, number: str, carrier: str = "SF Express", tracking_number: str | None = None) -> None:
        """Ship an order as the demo staff member would (the shipped notification is queued)."""
        from sqlalchemy import select

        from storefront.accounts.models import User
        from storefront.extensions import db
        from storefront.orders.models import Order
        from storefront.orders.services import ship_order

        with self.app.test_request_context("/"):
            try:
                staff = db.session.execute(select(User).where(User.email == self.demo_staff[0])).scalar_one()
                order = db.session.execute(select(Order).where(Order.number == number)).scalar_one()
                ship_order(order, staff, carrier, tracking_number or f"SF{number[-10:]}")
            finally:
                db.session.remove()

    # -- reading --------------------------------------------------------------
    def outbox(self, kind: str | None = None, to: str | None = None, order: str | None = None) -> list:
        from sqlalchemy import select

        from storefront.extensions import db
        from storefront.notify.models import OutboxMessage
        from storefront.orders.models import Order

        with self.ctx():
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if kind:
                query = query.where(OutboxMessage.kind == kind)
            if to:
                query = query.where(OutboxMessage.to_address == to)
            if order:
                query = query.join(Order, Order.id == OutboxMessage.order_id).where(Order.number == order)
            rows = list(db.session.execute(query).scalars())
            for row in rows:
                db.session.expunge(row)
            return rows

    def links(self, message) -> list[str]:
        return [self.url(link.rstrip(".,;")) for link in URL_RE.findall(message.body or "")]

    def order(self, number: str):
        from sqlalchemy import select

        from storefront.extensions import db
        from storefront.orders.models import Order

        with self.ctx():
            row = db.session.execute(select(Order).where(Order.number == number)).scalar_one()
            row.lines, row.events  # loaded before the session closes
            db.session.expunge_all()
            return row

    def orders_of(self, email: str) -> list:
        from sqlalchemy import select

        from storefront.accounts.models import User
        from storefront.extensions import db
        from storefront.orders.models import Order

        with self.ctx():
            rows = list(db.session.execute(select(Order).join(User, User.id == Order.user_id)
                                           .where(User.email == email).order_by(Order.id)).scalars())
            for row in rows:
                row.lines, row.events
            db.session.expunge_all()
            return rows

    def product(self, slug: str):
        from sqlalchemy import select

        from storefront.catalog.models import Product
        from storefront.extensions import db

        with self.ctx():
            row = db.session.execute(select(Product).where(Product.slug == slug)).scalar_one()
            row.skus, row.images
            db.session.expunge_all()
            return row


class _Detached:
    """The few attributes of a user a journey needs, usable outside any session."""

    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self):
        return f"<user {self.email}>"



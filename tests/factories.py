"""Plain factory functions for tests (no factory library needed)."""
from __future__ import annotations

import itertools
from contextlib import contextmanager

from storefront.accounts.models import Role, User
from storefront.catalog.models import Product, Sku
from storefront.database import write_transaction
from storefront.extensions import db

_seq = itertools.count(1)
PASSWORD = "correct horse battery"


def make_user(email: str | None = None, role: Role | str = Role.BUYER, password: str = PASSWORD,
              name: str = "Test Buyer", phone: str = "13800000000") -> User:
    n = next(_seq)
    user = User(email=email or f"user{n}@example.com", name=name, phone=phone, role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_staff(role: Role | str = Role.STAFF, **kwargs) -> User:
    return make_user(role=role, name="Staff", **kwargs)


def make_product(name: str = "T-shirt", price: int = 9900, stock: int = 10, skus: int = 1,
                 active: bool = True, options=None) -> Product:
    n = next(_seq)
    product = Product(slug=f"product-{n}", name=name, description="A product", active=active,
                      option_names=["Colour", "Size"])
    for i in range(skus):
        product.skus.append(Sku(code=f"SKU-{n}-{i}", options=options or ["Black", ["S", "M", "L", "XL"][i % 4]],
                                price=price, stock=stock, position=i))
    db.session.add(product)
    db.session.commit()
    return product


def login(client, user: User, password: str = PASSWORD):
    """Sign ``user`` in through the real login form."""
    response = client.post("/account/login", data={"email": user.email, "password": password},
                           follow_redirects=False)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return response


def sign_in(client, user: User) -> None:
    """Sign ``user`` in through the session cookie Flask-Login reads (no login page,
    no rate limit): for tests whose subject is not signing in."""
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True


def set_plugin_state(name: str, enabled: bool = True, settings: dict | None = None, *,
                     replace: bool = False) -> None:
    """Store a plugin's enabled flag and settings as the owner's Plugins page does.

    ``settings`` are merged into the stored ones unless ``replace`` is true.
    """
    from storefront.plugins.host import get_host
    from storefront.settings_models import PluginState

    settings = dict(settings or {})
    # Read and written holding the write lock: a browser test's live server may still be
    # writing (a page's beacon), and on SQLite a plain transaction that read first cannot
    # take the lock after another writer committed ("database is locked", no waiting).
    with write_transaction():
        row = db.session.get(PluginState, name)
        if row is None:
            db.session.add(PluginState(name=name, enabled=enabled, settings=settings, version=0))
        else:
            row.enabled = enabled
            row.settings = settings if replace else {**(row.settings or {}), **settings}
            row.version = (row.version or 0) + 1
    get_host().forget_states()


_demo_pictures: dict = {}


@contextmanager
def cached_demo_pictures():
    """While seeding the demo shop, draw and re-encode each of its pictures once per
    process (about 4 s of Pillow work per seeding), not once per test.

    Every seeding still writes its files under fresh names into the current
    upload folder, so tests that look at the files on disk see real ones.
    """
    from storefront.catalog import images

    draw, store = images.draw_garment, images.store_upload

    def fake_draw(*args):
        return _DemoPicture(args)

    def cached_store(data):
        if isinstance(data, _DemoPicture):
            if data.args not in _demo_pictures:
                _demo_pictures[data.args] = images.encode_upload(draw(*data.args))
            return images.write_image(_demo_pictures[data.args])
        return store(data)

    images.draw_garment, images.store_upload = fake_draw, cached_store
    try:
        yield
    finally:
        images.draw_garment, images.store_upload = draw, store


class _DemoPicture:
    """What the patched ``draw_garment`` hands to ``store_upload``: the drawing's arguments."""

    def __init__(self, args):
        self.args = args


def write_behind_sqlalchemys_back(sql: str) -> None:
    """A write as a worker on another host makes it (or ``psql``): the shop's statement
    watcher does not see it, and no worker of this host is told (storefront/config_reuse.py)."""
    raw = db.engine.raw_connection()
    try:
        raw.cursor().execute(sql)
        raw.commit()
    finally:
        raw.close()

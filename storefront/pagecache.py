"""Anonymous page cache for the catalog pages (per process, per app).

On a sale day most catalog traffic is anonymous visitors reading the same
few pages; re-rendering each view costs ~10 ms of CPU. A view decorated with
:func:`cached_page` is rendered once per key and TTL and served from memory
to the next anonymous visitors, with the per-visitor parts ("holes") filled
in again on every serve:

- the CSRF token (every form of a page shares the request's token),
- the context-free template slots ``head`` and ``body_end`` (promo popups
  decide per visitor: frequency-cap cookies, A/B variant).

What is never cached: signed-in visitors, requests with an ``Authorization``
header, pending flashed messages, a guest cart (free shipping's hint on the
product page shows that cart), anything but GET/HEAD and 200 text/html.
Only the body and mimetype are stored; headers and cookies are built fresh.

Freshness: the key holds a digest (``settings.config_digest``) of the shop
settings and plugin states. Catalog edits made through the ORM (watched
models, see :func:`watch_models`) write the ``page_cache_version`` setting in
the same flush, which changes that digest. Stock and presale "sold" counters
are Core UPDATEs on every order and deliberately do not: "sold out" may be up
to the TTL old, and adding to the cart re-checks stock.

A hit reads the settings and states as every request does: a worker's read
under a second old is reused (``storefront.config_reuse``), so a hit sends no
statement at all, and a switch or edit saved in any worker of the host shows
on the next request.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from flask import Flask, current_app, g, has_app_context, request, session
from sqlalchemy import event
from sqlalchemy.orm import Session

from .caching import ExpiringLRU
from .context_objects import g_object, user_object
from .settings import config_digest

EXTENSION_KEY = "storefront_pagecache"
VERSION_KEY = "page_cache_version"
MAX_BODY_BYTES = 256 * 1024
MAX_QUERY_CHARS = 200
# Entries are also bounded in total size, so the worst case stays well under the
# worker's memory budget whatever STOREFRONT_PAGE_CACHE_ENTRIES says.
MAX_TOTAL_BYTES = 8 * 1024 * 1024
#: Context-free slots whose content depends on the visitor (promo popups).
HOLE_SLOTS = frozenset({"head", "body_end"})
CSRF_HOLE = "csrf"
GUEST_CART_SESSION_KEY = "cart_token"  # storefront.cart.services.SESSION_KEY

#: The clock of the TTL; tests patch it.
_now = time.monotonic

# Random per process: no seller or buyer text rendered into a page can spell a hole marker.
_MARK = secrets.token_hex(8)
_HOLE_RE = re.compile(f"<!--pc:{_MARK}:([a-z_]+)-->")


def hole_marker(name: str) -> str:
    return f"<!--pc:{_MARK}:{name}-->"


@dataclass(frozen=True)
class Entry:
    parts: tuple  # bytes, hole name, bytes, hole name, ..., bytes
    mimetype: str
    size: int


class PageCache(ExpiringLRU):
    """Rendered pages of one app (bounded by its configuration, see ``put_page``)."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app

    @property
    def ttl(self) -> float:
        return float(self.app.config.get("STOREFRONT_PAGE_CACHE_SECONDS") or 0)

    def page(self, key: tuple) -> Entry | None:
        return self.get(key, _now())

    def put_page(self, key: tuple, entry: Entry) -> None:
        self.put(key, entry, expires=_now() + self.ttl, size=entry.size, max_bytes=MAX_TOTAL_BYTES,
                 max_entries=int(self.app.config.get("STOREFRONT_PAGE_CACHE_ENTRIES") or 0))


def init_app(app: Flask) -> PageCache:
    cache = app.extensions.get(EXTENSION_KEY)
    if cache is None:
        cache = app.extensions[EXTENSION_KEY] = PageCache(app)
    from .catalog.models import Category, Product, ProductImage, Sku

    watch_models(Product, Sku, Category, ProductImage)
    return cache


# the key ---------------------------------------------------------------------

def _cacheable_request(cache: PageCache) -> bool:
    if cache.ttl <= 0 or request.method not in ("GET", "HEAD"):
        return False
    if "Authorization" in request.headers or len(request.query_string) > MAX_QUERY_CHARS:
        return False
    if "_flashes" in session or session.get(GUEST_CART_SESSION_KEY):
        return False
    return not user_object().is_authenticated


def _key() -> tuple:
    from flask_babel import get_locale

    query = urlencode(sorted(request.args.items(multi=True)))
    return (request.script_root, request.path, query, str(get_locale()),
            current_app.config.get("STOREFRONT_CURRENCY"), config_digest())


# the decorator ---------------------------------------------------------------

def cached_page(view):
    """Serve the view from the page cache for anonymous visitors (see the module docstring)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        cache: PageCache | None = current_app.extensions.get(EXTENSION_KEY)
        if cache is None or not _cacheable_request(cache):
            return view(*args, **kwargs)
        key = _key()
        entry = cache.page(key)
        if entry is not None:
            response = current_app.response_class(_fill(entry.parts), mimetype=entry.mimetype)
            response.headers["X-Page-Cache"] = "hit"
            return response
        g._page_cache_holes = True
        try:
            response = current_app.make_response(view(*args, **kwargs))
        finally:
            g._page_cache_holes = False
        if response.mimetype != "text/html" or response.direct_passthrough or response.is_streamed:
            return response
        entry = _entry(response.get_data(as_text=True), response.mimetype)
        response.set_data(_fill(entry.parts))
        if response.status_code == 200 and entry.size <= MAX_BODY_BYTES and "_flashes" not in session:
            cache.put_page(key, entry)
            response.headers["X-Page-Cache"] = "miss"
        return response

    return wrapper


def rendering_holes() -> bool:
    """True while a cacheable page is rendered: visitor-dependent slots emit a hole marker."""
    app_g = g_object()
    return app_g is not None and bool(app_g.__dict__.get("_page_cache_holes"))


def _entry(body: str, mimetype: str) -> Entry:
    # The token this request rendered into its forms (flask_wtf keeps it in g).
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if isinstance(token, str) and token and token in body:
        body = body.replace(token, hole_marker(CSRF_HOLE))
    pieces = _HOLE_RE.split(body)
    parts = tuple(p.encode() if i % 2 == 0 else p for i, p in enumerate(pieces))
    size = sum(len(p) for p in parts[::2])
    return Entry(parts=parts, mimetype=mimetype, size=size)


def _fill(parts: tuple) -> bytes:
    if len(parts) == 1:
        return parts[0]
    out = []
    for index, part in enumerate(parts):
        out.append(part if index % 2 == 0 else _hole_value(part))
    return b"".join(out)


def _hole_value(name: str) -> bytes:
    if name == CSRF_HOLE:
        from .csrf_reuse import csrf_token

        return csrf_token().encode()
    from .plugins.slots import render_slot

    return str(render_slot(name)).encode()


# invalidation ----------------------------------------------------------------

_WATCHED: set[type] = set()
_watched_tuple: tuple[type, ...] = ()


def watch_models(*models: type) -> None:
    """Changes to these models (ORM insert/update/delete) change what catalog pages show:
    each flush that touches one bumps ``page_cache_version`` in the same transaction."""
    global _watched_tuple
    _WATCHED.update(models)
    _watched_tuple = tuple(_WATCHED)
    if not getattr(watch_models, "_listening", False):
        watch_models._listening = True  # type: ignore[attr-defined]
        event.listen(Session, "before_flush", _before_flush)


def _touches_watched(session: Session) -> bool:
    watched = _watched_tuple
    if any(isinstance(o, watched) for o in session.new) or any(isinstance(o, watched) for o in session.deleted):
        return True
    return any(isinstance(o, watched) and session.is_modified(o, include_collections=False) for o in session.dirty)


def _before_flush(session: Session, _context, _instances) -> None:
    if not _watched_tuple or not _touches_watched(session):
        return
    from .models_base import utcnow
    from .settings_models import Setting

    conn = session.connection()
    table = Setting.__table__
    values = {"key": VERSION_KEY, "value": secrets.token_hex(8), "updated_at": utcnow()}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the shop supports SQLite and PostgreSQL
        return
    stmt = insert(table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.key],
                                            set_={"value": stmt.excluded.value,
                                                  "updated_at": stmt.excluded.updated_at}))
    if has_app_context():
        g.pop("_shop_settings", None)

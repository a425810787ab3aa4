"""The generic part of the attack suite: classify every rule of ``app.url_map``,
fill its URL parameters, fingerprint the database, look for executable markup.

Nothing here knows a particular plugin. A route added later is picked up by
the walkers automatically; if the walker cannot tell what one of its URL
parameters means, the tests fail and say which parameter to declare, rather
than silently skipping the route.
"""
from __future__ import annotations

import hashlib
import re
from sqlalchemy import inspect, select

from storefront.extensions import db

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# Public endpoints: reachable without signing in on purpose. Everything not
# listed here and not a staff route must send an anonymous visitor to the
# login page (HTML) or answer 401 (API). Keep the reason next to each entry.
PUBLIC_ENDPOINTS = {
    # Static files and uploaded product images (random names, see catalog/images.py).
    "static", "storefront.static", "catalog.image",
    # The catalogue is the shop window.
    "catalog.home", "catalog.products", "catalog.product", "catalog.category",
    # The language switcher: visitors may choose a language too (session only; CSRF-checked POST).
    "language.set_language",
    # Guests shop with a cart kept by a random cookie token and may check out as guests.
    "cart.view_cart", "cart.add", "cart.remove", "cart.update",
    "checkout.checkout_page", "checkout.place",
    # Guests pay their order; the payment reference is an unguessable token.
    "payments.pay_page",
    # The test provider's callback is how the (fake) payment provider reports back.
    "payments.test_callback",
    # Signing in and registering.
    "accounts.login", "accounts.register", "accounts.logout",
    # Registration and password reset by mailed link: the request forms and their
    # "check your inbox" pages, and the pages behind the link (the signed token is the proof).
    "accounts.register_sent", "accounts.finish_registration",
    "accounts.forgot_password", "accounts.forgot_password_sent", "accounts.reset_password",
    # The API's anonymous entry points.
    "api-docs.openapi_json", "api_auth.register", "api_auth.create_token",
    "api_catalog.Categories", "api_catalog.Products", "api_catalog.ProductDetail",
    # Guest cart and checkout over the API (cart token header).
    "api_cart.get_cart", "api_cart.add_line", "api_cart.set_line", "api_cart.delete_line",
    "api_checkout.preview", "api_checkout.place", "api_checkout.get_payment", "api_checkout.pay_test",
    # Plugins: public pages and beacons.
    "coupons.apply_code", "coupons.remove", "coupons_api.apply_code", "coupons_api.remove_code",
    "coupons_api.claimable",
    "promo_popups.event", "promo_popups.static", "promo_popups_api.active", "promo_popups_api.post_event",
    "store_pickup.stores", "store_pickup_api.locations", "store_pickup_api.slots",
    "presale_api.product_terms",  # a product's presale terms: part of the shop window
    # Order tracking: lookup by order number + phone (rate limited), signed links, carrier webhooks
    # (authenticated by a shared secret, not by a session).
    "order_tracking.lookup", "order_tracking.static", "order_tracking.signed", "order_tracking.webhook_push",
    "order_tracking_api.lookup", "order_tracking_api.webhook_push",
}

# Endpoints that are exempt from CSRF on purpose (machine-to-machine callbacks
# authenticated by their own secret, or a beacon that changes no one's data).
CSRF_EXEMPT_HTML = {
    "payments.test_callback",        # provider callback, signed by the provider
    "order_tracking.webhook_push",   # carrier push, authenticated by a shared secret
    # navigator.sendBeacon cannot send a token; it only counts a popup impression/click,
    # refuses Sec-Fetch-Site other than same-origin and is rate limited.
    "promo_popups.event",
}

# API write endpoints meant for anonymous callers; a session cookie adds nothing to them.
PUBLIC_API_WRITES = {
    "api_auth.register", "api_auth.create_token", "api_cart.add_line", "api_cart.set_line",
    "api_cart.delete_line", "api_checkout.place", "api_checkout.pay_test", "coupons_api.apply_code",
    "coupons_api.remove_code", "promo_popups_api.post_event", "order_tracking_api.lookup",
    "order_tracking_api.webhook_push",
}

# URL parameters naming an object that belongs to one buyer: another buyer
# asking for it must get 404. Value: how to find buyer A's object.
OWNED_PARAMS = {"address_id", "number", "reference", "order_id",
                "evidence_id"}  # aftersales: a photo attached to the buyer's own refund request

# URL parameters that name nothing private (public objects, or an object
# looked up inside the caller's own cart/account).
NEUTRAL_PARAMS = {
    "slug", "filename", "sku_id",  # sku_id: cart lines are looked up inside the caller's own cart
    "location_id",                 # pickup locations are public store addresses
    "token",                       # signed tracking links carry their own proof
    "action", "name",              # admin-only parameters (plugin name, image action)
    "job_id",                      # admin-only: progress of a background job
}


def api_prefix(app) -> str:
    return app.config["OPENAPI_URL_PREFIX"]


def is_api(app, rule) -> bool:
    prefix = api_prefix(app)
    return rule.rule == prefix or rule.rule.startswith(prefix + "/")


def _guard_names(fn) -> set[str]:
    """Names of the access decorators found on ``fn``: follows ``__wrapped__``
    and the functions a wrapper closes over (a guard built on another guard
    hides inside its closure)."""
    found: set[str] = set()
    todo, seen = [fn], set()
    while todo and len(seen) < 60:
        fn = todo.pop()
        if fn is None or id(fn) in seen or not callable(fn):
            continue
        seen.add(id(fn))
        code = getattr(fn, "__code__", None)
        if code is not None:
            qual = getattr(code, "co_qualname", code.co_name)
            for guard in ("staff_required", "owner_required", "token_required", "login_required"):
                if qual.startswith(guard + "."):
                    found.add(guard)
        todo.append(getattr(fn, "__wrapped__", None))
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if callable(value) and hasattr(value, "__code__"):
                todo.append(value)
    return found


def view_guards(app, rule, method: str) -> set[str]:
    view = app.view_functions[rule.endpoint]
    cls = getattr(view, "view_class", None)
    if cls is not None:
        return _guard_names(getattr(cls, method.lower(), None))
    return _guard_names(view)


def is_admin(app, rule, method: str) -> bool:
    """Staff routes: everything under ``/admin`` and ``/api/v1/{admin,staff}``,
    plus any view carrying a staff/owner decorator wherever it is mounted."""
    prefix = app.config.get("STOREFRONT_URL_PREFIX", "")
    path = rule.rule[len(prefix):] if prefix and rule.rule.startswith(prefix) else rule.rule
    api = api_prefix(app)[len(prefix):] if prefix else api_prefix(app)
    if path == "/admin" or path.startswith("/admin/"):
        return True
    if path.startswith(api + "/admin/") or path.startswith(api + "/staff/"):
        return True
    return bool(view_guards(app, rule, method) & {"staff_required", "owner_required"})


def methods_of(rule) -> list[str]:
    return sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))


def rules(app):
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


# Filling URL parameters ------------------------------------------------------

def _table_for_param(param: str):
    stem = param[:-3] if param.endswith("_id") else param
    candidates = [t for t in db.metadata.sorted_tables
                  if t.name in (stem, stem + "s") or t.name.endswith("_" + stem) or t.name.endswith("_" + stem + "s")]
    return candidates[0] if candidates else None


def any_row_id(param: str) -> int:
    """The smallest id of the table a ``<int:xxx_id>`` parameter most likely names (1 if unknown)."""
    table = _table_for_param(param)
    if table is None or "id" not in table.c:
        return 1
    value = db.session.execute(select(table.c.id).order_by(table.c.id).limit(1)).scalar()
    return int(value) if value is not None else 1


def converter_options(rule, param: str) -> list[str] | None:
    conv = rule._converters.get(param)
    items = getattr(conv, "items", None)  # AnyConverter
    return sorted(items) if items else None


def fill(rule, values: dict[str, object]) -> str | None:
    """Build the URL of ``rule`` from ``values``; None if a parameter is missing."""
    args = {}
    for param in rule.arguments:
        if param in values:
            args[param] = values[param]
            continue
        options = converter_options(rule, param)
        if options:
            args[param] = options[0]
            continue
        return None
    path = rule.rule
    for param, value in args.items():
        path = re.sub(r"<(?:[^:<>]+:)?" + re.escape(param) + r"(?:\([^)]*\))?>", str(value), path)
    path = re.sub(r"<[^>]+>", "x", path)
    return path


# Database fingerprint ----------------------------------------------------------

# Columns that legitimately change on a read: bookkeeping, not data.
VOLATILE_COLUMNS = {"last_used_at", "last_seen_at", "updated_at"}


def fingerprint() -> dict[str, str]:
    """A digest of every row of every table (volatile bookkeeping columns aside)."""
    db.session.rollback()
    existing = set(inspect(db.engine).get_table_names())
    digests = {}
    for table in db.metadata.sorted_tables:
        if table.name not in existing:
            continue
        cols = [c for c in table.c if c.name not in VOLATILE_COLUMNS]
        order = list(table.primary_key.columns) or cols
        rows = db.session.execute(select(*cols).order_by(*order)).all()
        digests[table.name] = hashlib.sha256(repr([tuple(map(str, r)) for r in rows]).encode()).hexdigest()
    db.session.rollback()
    return digests


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


def snapshot_columns(names: set[str]) -> dict[tuple[str, str], dict]:
    """{(table, column): {pk: value}} for every column whose name is in ``names``."""
    db.session.rollback()
    existing = set(inspect(db.engine).get_table_names())
    out = {}
    for table in db.metadata.sorted_tables:
        if table.name not in existing or not table.primary_key.columns:
            continue
        pk = list(table.primary_key.columns)
        for col in table.c:
            if col.name in names and not col.primary_key:
                rows = db.session.execute(select(*pk, col)).all()
                out[(table.name, col.name)] = {tuple(r[:-1]): r[-1] for r in rows}
    db.session.rollback()
    return out

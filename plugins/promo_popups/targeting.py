"""Which popup (if any) a buyer sees on this page: cache, page, audience, caps, priority.

Cache: the active popups are read once per process into immutable snapshots
and reused until the version stamp changes. The stamp is the ``plugin_states``
rows (this plugin's and every other's), which the host already reads once per
request to know which plugins are enabled, so checking it costs no extra
query. A popup linked to a coupon asks ``promotion_claimable`` once, when the
cache is filled; the coupons plugin bumps its own row when a coupon claims
out, which refreshes the cache on the next request. A 30 s TTL refreshes the list anyway, as a safety net against rows
edited outside the services. Schedules are checked per request against the
clock, so a popup starts and ends on time without any cache invalidation.

Cookies (all first-party, SameSite=Lax):
- ``pp_seen``: random visitor id, 1 year; set on the first page without it.
  It keys the A/B split, so a visitor keeps their variant.
- ``pp_new``: browser-session cookie set with ``pp_seen``. A visitor is
  *new* while they have no ``pp_seen`` or still carry ``pp_new`` (the whole
  first visit).
- ``pp_f<id>``: written by the popup's JavaScript when it is shown
  (frequency cap): session cookie for "once per session", the shop-local day
  (``YYYYMMDD``) for "once per day", 400 days for "once ever". The server does
  not render a capped popup; the script checks local/sessionStorage too.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import after_this_request, current_app, g, has_request_context, request
from sqlalchemy import select

from storefront.context_objects import app_object
from storefront.extensions import db
from storefront.plugins.host import get_host

from .models import Popup
from .services import PLUGIN_NAME
from storefront.clock import shop_today

CACHE_TTL_SECONDS = 30
SEEN_COOKIE, NEW_COOKIE, CAP_PREFIX = "pp_seen", "pp_new", "pp_f"

#: endpoint -> page kind; extend with app.config["PROMO_POPUPS_PAGE_ENDPOINTS"].
DEFAULT_PAGE_ENDPOINTS = {
    "catalog.home": "home", "catalog.index": "home",
    "catalog.product": "product", "catalog.product_page": "product", "catalog.product_detail": "product",
    "catalog.category": "category", "catalog.products": "category", "catalog.search": "category",
    "cart.view_cart": "cart", "cart.cart": "cart",
}
#: Never on these blueprints or paths: staff pages, payment and checkout must not be interrupted.
EXCLUDED_BLUEPRINTS = ("admin", "checkout", "payments", "accounts", "promo_popups", "promo_popups_admin",
                       "promo_popups_api", "api-docs")
EXCLUDED_PATHS = ("/checkout", "/pay", "/admin", "/api/", "/account")


@dataclass(frozen=True)
class Snapshot:
    """An immutable copy of a popup row, safe to share between requests and threads."""

    id: int
    title: str
    body: str
    image_url: str
    image_alt: str
    cta_label: str
    cta_url: str
    starts_at: datetime | None
    ends_at: datetime | None
    pages: tuple[str, ...]
    audience: str
    trigger: str
    trigger_value: int
    frequency: str
    priority: int
    active: bool
    b_enabled: bool
    b_title: str
    b_body: str
    b_cta_label: str
    b_cta_url: str
    split_percent: int
    coupon_code: str
    #: The linked coupon's answer to ``promotion_claimable`` when the cache was filled:
    #: False (claimed out, paused, ended) hides the popup; None (no coupon, or no plugin
    #: knows it) shows it without a Claim button.
    claimable: bool | None = None

    @classmethod
    def of(cls, popup: Popup, claimable: bool | None = None) -> "Snapshot":
        names = [f for f in cls.__dataclass_fields__ if f not in ("pages", "claimable")]
        return cls(pages=tuple(popup.page_list), claimable=claimable, **{n: getattr(popup, n) for n in names})

    def is_live(self, now: datetime) -> bool:
        return Popup.is_live(self, now)  # same rule as the model (end exclusive)

    def content(self, variant: str) -> dict[str, str]:
        if variant == "b" and self.b_enabled:
            return {"title": self.b_title, "body": self.b_body or self.body,
                    "cta_label": self.b_cta_label, "cta_url": self.b_cta_url}
        return {"title": self.title, "body": self.body, "cta_label": self.cta_label, "cta_url": self.cta_url}


@dataclass(frozen=True)
class Choice:
    popup: Snapshot
    variant: str


def _stamp() -> Any:
    """Every plugin's state version: this plugin's changes with each popup edit, and a plugin
    answering ``promotion_claimable`` bumps its own when an answer changes (the coupons plugin
    on the claim that takes the last of a quota), or is switched on or off."""
    return tuple(sorted((name, state.enabled, state.version, state.updated_at)
                        for name, state in get_host().states().items()))


def coupon_claimable(code: str) -> bool | None:
    """The linked coupon's state through the hook (never an import of the coupons plugin)."""
    if not code:
        return None
    return get_host().hook.promotion_claimable(ref=f"coupon:{code}")


def active_popups() -> tuple[Snapshot, ...]:
    """Active popups, highest priority first, from the per-process cache."""
    cache = current_app.extensions.setdefault("promo_popups_cache", {})
    stamp = _stamp()
    entry = cache.get("entry")
    if entry is not None and entry[0] == stamp and time.monotonic() - entry[1] < CACHE_TTL_SECONDS:
        return entry[2]
    rows = db.session.execute(select(Popup).where(Popup.active.is_(True))
                              .order_by(Popup.priority.desc(), Popup.id.desc())).scalars()
    items = tuple(Snapshot.of(p, coupon_claimable(p.coupon_code)) for p in rows)
    cache["entry"] = (stamp, time.monotonic(), items)
    return items


def clear_cache() -> None:
    current_app.extensions.pop("promo_popups_cache", None)


def page_kind(endpoint: str | None, path: str) -> str | None:
    """home/product/category/cart, "other" for any other shop page, None where popups never show."""
    if not endpoint:
        return None
    config = app_object().config
    prefix = config.get("STOREFRONT_URL_PREFIX", "")
    local = path[len(prefix):] if prefix and path.startswith(prefix) else path
    if local.startswith(EXCLUDED_PATHS) or local in ("/pay", "/checkout"):
        return None
    if "." in endpoint and endpoint.rsplit(".", 1)[0] in EXCLUDED_BLUEPRINTS:
        return None
    mapping = {**DEFAULT_PAGE_ENDPOINTS, **(config.get("PROMO_POPUPS_PAGE_ENDPOINTS") or {})}
    if endpoint in mapping:
        return mapping[endpoint]
    if endpoint.startswith("cart."):
        return "cart"
    return "other"


def visitor_id() -> str:
    """The visitor's ``pp_seen`` id, creating (and setting) it on the first page."""
    if "pp_visitor" in g:
        return g.pp_visitor
    token = request.cookies.get(SEEN_COOKIE, "")
    if not (token.isalnum() and 8 <= len(token) <= 64):
        token = secrets.token_hex(8)
        g.pp_new_visitor = True
        secure = request.is_secure

        @after_this_request
        def _set(response):
            response.set_cookie(SEEN_COOKIE, token, max_age=365 * 86400, samesite="Lax", secure=secure)
            response.set_cookie(NEW_COOKIE, "1", samesite="Lax", secure=secure)
            return response

    g.pp_visitor = token
    return token


def is_new_visitor() -> bool:
    visitor_id()
    return bool(g.get("pp_new_visitor")) or request.cookies.get(NEW_COOKIE) == "1"


def variant_for(popup: Snapshot, visitor: str) -> str:
    if not popup.b_enabled:
        return "a"
    bucket = int(hashlib.sha256(f"{visitor}:{popup.id}".encode()).hexdigest()[:8], 16) % 100
    return "b" if bucket < popup.split_percent else "a"


def capped(popup: Snapshot, cookies, now: datetime) -> bool:
    """The server half of the frequency cap: the cookie the script wrote when it showed the popup."""
    value = cookies.get(f"{CAP_PREFIX}{popup.id}")
    if not value or popup.frequency == "always":
        return False
    if popup.frequency == "day":
        return value == shop_today(now).strftime("%Y%m%d")
    return True


def _has_order(user) -> bool:
    """Cached per request: one ``SELECT 1 ... LIMIT 1`` on the core orders table."""
    cache = g.setdefault("pp_has_order", {})
    if user.id not in cache:
        orders = db.metadata.tables.get("orders")
        cache[user.id] = orders is not None and db.session.execute(
            select(1).select_from(orders).where(orders.c.user_id == user.id).limit(1)).first() is not None
    return cache[user.id]


def audience_matches(audience: str, user) -> bool:
    signed_in = bool(user is not None and getattr(user, "is_authenticated", False))
    if audience == "everyone":
        return True
    if audience == "new":
        return is_new_visitor()
    if audience == "signed_in":
        return signed_in
    if audience == "no_order":
        return signed_in and not _has_order(user)
    return False


def choose_popup(page: str | None, user, now: datetime) -> Choice | None:
    """The highest-priority live popup for ``page`` this visitor may see now, or None."""
    if page is None or not get_host().is_enabled(PLUGIN_NAME):
        return None
    cookies = request.cookies if has_request_context() else {}
    for popup in active_popups():
        if not popup.is_live(now):
            continue
        if "all" not in popup.pages and page not in popup.pages:
            continue
        if popup.claimable is False:
            continue
        if capped(popup, cookies, now) or not audience_matches(popup.audience, user):
            continue
        return Choice(popup, variant_for(popup, visitor_id()))
    return None


def valid_event(popup_id: Any, variant: Any, event: Any) -> tuple[int, str, str] | None:
    """Beacon input checked against the cached active popups (no query): known id, event and variant."""
    from .models import EVENTS

    try:
        pid = int(popup_id)
    except (TypeError, ValueError):
        return None
    if event not in EVENTS or variant not in ("a", "b"):
        return None
    popup = next((p for p in active_popups() if p.id == pid), None)
    if popup is None or (variant == "b" and not popup.b_enabled):
        return None
    return pid, variant, event

"""Configuration defaults and ``STOREFRONT_*`` environment overrides.

Every key the storefront reads is listed in :data:`DEFAULTS` with the reason
it exists. ``Storefront.init_app`` applies them with ``setdefault`` so that a
host application's own values always win.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

#: Plugins shipped in ``plugins/``; third-party ones come from the
#: ``storefront.plugins`` entry-point group.
BUNDLED_PLUGINS: list[str] = [
    "plugins.presale",
    "plugins.coupons",
    "plugins.free_shipping",
    "plugins.promo_popups",
    "plugins.store_pickup",
    "plugins.order_tracking",
    "plugins.aftersales",
]

DEFAULTS: dict[str, object] = {
    # Database: SQLite in the instance folder unless STOREFRONT_DATABASE_URL is set.
    "SQLALCHEMY_DATABASE_URI": None,
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    # Redis, used for rate limits and the job queue when set.
    "STOREFRONT_REDIS_URL": None,
    # Plugin modules to load (import paths exposing ``plugin``).
    "STOREFRONT_PLUGINS": None,
    # Load third-party plugins from the ``storefront.plugins`` entry points.
    "STOREFRONT_LOAD_ENTRY_POINTS": True,
    # Shop currency (ISO 4217); money is stored in its minor units.
    "STOREFRONT_CURRENCY": "CNY",
    "STOREFRONT_LOCALES": ["en", "zh_Hans", "vi"],
    "STOREFRONT_DEFAULT_LOCALE": "en",
    "STOREFRONT_TIMEZONE": "Asia/Shanghai",
    # Where uploaded product images live (outside the package, never in static/).
    "STOREFRONT_UPLOAD_DIR": None,
    "STOREFRONT_MAX_IMAGE_BYTES": 5 * 1024 * 1024,
    "STOREFRONT_MAX_IMAGE_PIXELS": 40_000_000,
    # Seed the demo shop on first start (wsgi.py sets it).
    "STOREFRONT_SEED_DEMO": False,
    # Notifications: "log" or "smtp".
    "STOREFRONT_MAIL_BACKEND": "log",
    "STOREFRONT_SMTP_HOST": "localhost",
    "STOREFRONT_SMTP_PORT": 25,
    "STOREFRONT_SMTP_USER": None,
    "STOREFRONT_SMTP_PASSWORD": None,
    "STOREFRONT_SMTP_TLS": False,
    "STOREFRONT_MAIL_FROM": "shop@example.com",
    # Ask the worker for a delivery pass as soon as a message is committed (a reset link,
    # an order's "paid" mail), instead of leaving it to the pass every minute. Switch it
    # off when cron runs `flask storefront deliver` and no worker runs (storefront/notify/prompt.py).
    "STOREFRONT_DELIVERY_PROMPT": True,
    # Run the Huey queue in-process, synchronously (tests).
    "STOREFRONT_HUEY_IMMEDIATE": False,
    # Login and lookup throttles (Flask-Limiter syntax).
    # Past days of the dashboard's sales chart are re-read at most this often
    # (today is always live): at a million orders the 30-day aggregate costs
    # seconds, and a chart a few minutes behind on closed days is fine. 0: never cached.
    "STOREFRONT_DASHBOARD_CACHE_SECONDS": 300,
    # Anonymous catalog pages (home, listings, search, product) are served from a
    # per-worker page cache for this many seconds; catalog edits, settings and
    # plugin switches show on the next request, stock counters up to this late
    # (storefront/pagecache.py). 0 switches the cache off.
    "STOREFRONT_PAGE_CACHE_SECONDS": 5,
    # At most this many pages per worker (LRU; bodies over 256 KB and query
    # strings over 200 characters are never cached; 8 MB in total at most).
    "STOREFRONT_PAGE_CACHE_ENTRIES": 256,
    # A request reuses its worker's last read of the settings and plugin states
    # while it is younger than this; a change saved by any worker of this host
    # retires it at once, one from another host (or plain psql) shows up to this
    # late (storefront/config_reuse.py). 0 reads them on every request. The presale
    # plugin's per-SKU look-ups follow the same window (plugins/presale/reuse.py), and so
    # do the pickup plugin's stores and open slots on the checkout page (plugins/store_pickup/reuse.py).
    "STOREFRONT_CONFIG_REUSE_SECONDS": 1,
    # A signed-in request builds its user (and API token) from the worker's copy of the
    # last load of the same session or token while it is younger than this; a change to
    # an account or token saved by any worker of this host retires the copies at once,
    # one from another host (or plain psql) takes effect up to this late
    # (storefront/identity_reuse.py). 0 loads the user on every request.
    "STOREFRONT_IDENTITY_REUSE_SECONDS": 5,
    # At most this many sessions and tokens per worker (about 1 KB each; the oldest go first).
    "STOREFRONT_IDENTITY_REUSE_ENTRIES": 4096,
    "STOREFRONT_LOGIN_LIMIT": "10 per minute;50 per hour",
    "STOREFRONT_API_TOKEN_DAYS": 30,
    # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto/-Host
    # (werkzeug ProxyFix). Without it every buyer has the proxy's address and
    # shares one rate-limit bucket. 0 = not behind a proxy; never trust more
    # proxies than you run.
    "STOREFRONT_PROXY_COUNT": 0,
    # Served over HTTPS: cookies are sent only over HTTPS, URLs built https://.
    "STOREFRONT_HTTPS": False,
    # In-process counters without limits' per-key timer thread (extensions.SweepingMemoryStorage);
    # replaced by STOREFRONT_REDIS_URL when that is set.
    "RATELIMIT_STORAGE_URI": "storefront-memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    # OpenAPI (flask-smorest)
    "API_TITLE": "Storefront API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
}

ENV_PREFIX = "STOREFRONT_"


def from_environment(environ: dict[str, str] | None = None) -> dict[str, object]:
    """Read ``STOREFRONT_*`` variables; JSON values are decoded when they parse."""
    environ = os.environ if environ is None else environ
    found: dict[str, object] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key.startswith("STOREFRONT_TEST_"):
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        found[key] = value
    if "STOREFRONT_DATABASE_URL" in found:
        found["SQLALCHEMY_DATABASE_URI"] = found.pop("STOREFRONT_DATABASE_URL")
    if "STOREFRONT_SECRET_KEY" in found:
        found["SECRET_KEY"] = found.pop("STOREFRONT_SECRET_KEY")
    return found


def instance_secret_key(instance_path: str) -> str:
    """Return the secret key kept in ``instance/secret_key``, creating it once.

    A hard-coded default would let anyone forge sessions on every shop that
    forgot to set one; a per-installation random key written with 0600
    permissions is safe and survives restarts.
    """
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        key = secrets.token_hex(32)
        fh.write(key)
    return key

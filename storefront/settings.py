"""Shop settings the seller edits in the admin, with documented defaults."""
from __future__ import annotations

import hashlib
from typing import Any

from flask import g, has_app_context

from . import reuse_signal
from .context_objects import app_object, g_object
from .extensions import db
from .settings_models import JOB_PREFIX, Setting

#: key -> default. Durations are in minutes/hours/days as the name says;
#: money is in minor units of the shop currency.
SHOP_DEFAULTS: dict[str, Any] = {
    "shop_name": "Storefront Demo",
    "shop_tagline": "",
    "logo_url": "",
    "footer_text": "",
    "social_weibo": "",
    "social_wechat": "",
    "social_xiaohongshu": "",
    "social_bilibili": "",
    "social_zhihu": "",
    "courier_fee": 1000,            # flat courier fee (¥10.00)
    "courier_label": "Courier",
    "unpaid_close_minutes": 30,     # unpaid orders close after this
    "ship_within_hours": 48,        # default ship-by deadline after payment
    "auto_confirm_days": 14,        # auto-confirm receipt after shipment (003)
    "auto_confirm_extend_days": 10, # staff extension during after-sales (003)
    "carriers": ["SF Express", "ZTO", "YTO", "STO", "Yunda", "JD Logistics", "EMS", "J&T Express",
                 "Giao Hàng Nhanh", "Viettel Post"],
    "max_line_quantity": 99,
}


def get_setting(key: str) -> Any:
    values = all_settings()
    return values[key] if key in values else SHOP_DEFAULTS.get(key)


def all_settings() -> dict[str, Any]:
    """Defaults overlaid with stored values; read once per request.

    Every page needs both these and the plugin states, so the first of the two
    to be asked for reads both in one round trip (``PluginHost.snapshot``).
    """
    app_g = g_object()  # asked for by many helpers a request: the proxy's look-ups are spared
    if app_g is not None:
        held = app_g.__dict__
        if "_shop_settings" in held:
            return held["_shop_settings"]
        if "_plugin_states" not in held:
            state = app_object().extensions.get("storefront")
            host = getattr(state, "host", None)
            if host is not None:
                host.snapshot()
                if "_shop_settings" in held:
                    return held["_shop_settings"]
    values = _overlay(db.session.execute(db.select(Setting.key, Setting.value).where(STORED)).all())
    if app_g is not None:
        app_g._shop_settings = values
    return values


STORED = ~Setting.key.startswith(JOB_PREFIX, autoescape=True)


def config_digest() -> bytes:
    """A digest of this request's shop settings and plugin states, computed once per request.

    Per-worker caches put it in their keys (the page cache, plugin hints): the
    settings and plugin states are read on every request anyway (a page-cache
    hit reuses a read up to a second old), so a setting or plugin switched in
    any worker changes the digest on the next request.
    """
    from .plugins.host import get_host

    snap = get_host().snapshot()
    settings = all_settings()
    memo = g.get("_config_digest") if has_app_context() else None
    if memo is not None and memo[0] is snap and memo[1] is settings:
        return memo[2]
    states = sorted((s.name, s.enabled, s.version, str(s.updated_at), repr(sorted(s.settings.items())))
                    for s in snap.rows.values())
    digest = hashlib.blake2b(repr((sorted(settings.items()), states)).encode(), digest_size=16).digest()
    if has_app_context():
        g._config_digest = (snap, settings, digest)
    return digest


def _is_config_write(statement: str) -> bool:
    return ("settings" in statement or "plugin_states" in statement) \
        and not statement.lstrip()[:6].upper().startswith("SELECT")


def _signal_config_change() -> None:
    from .config_reuse import signal_change

    signal_change()


# Writes to ``settings`` or ``plugin_states`` this process has made, whoever wrote
# them -- the owner's Plugins page, a plugin bumping its own version stamp (coupons,
# promo_popups), the demo, tests. A per-process copy of the config taken at another
# count is stale (``config_reuse``); the plugin host listens (``plugins.host``).
config_writes = reuse_signal.WriteWatch("config", _is_config_write, _signal_config_change)


def local_config_writes() -> int:
    return config_writes.writes


def _overlay(rows) -> dict[str, Any]:
    values = dict(SHOP_DEFAULTS)
    values.update((key, value) for key, value in rows)
    return values


def remember_settings(rows) -> None:
    """This request's settings from ``(key, value)`` rows read elsewhere (the plugin snapshot)."""
    g._shop_settings = _overlay(rows)


def set_settings(changes: dict[str, Any]) -> None:
    """Write settings into the current transaction (the caller commits)."""
    for key, value in changes.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value))
        else:
            row.value = value
    if has_app_context():
        g.pop("_shop_settings", None)

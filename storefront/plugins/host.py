"""The per-app plugin host: discovery, registration, enabled state and hook calls."""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

import pluggy
from flask import Flask, abort, current_app, g, has_app_context

from .. import config_reuse
from ..context_objects import app_object, g_object
from ..extensions import db
from ..settings_models import PluginState
from . import hookspecs
from .types import Plugin

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "storefront.plugins"
PROJECT = "storefront"


class PluginLoadError(RuntimeError):
    pass


class _HookProxy:
    """``host.hook.name(...)`` calls only the enabled plugins' implementations."""

    def __init__(self, host: "PluginHost") -> None:
        self._host = host

    def __getattr__(self, name: str):
        return self._host.caller(name)


class PluginHost:
    def __init__(self, app: Flask, core_plugins: list[Any]) -> None:
        self.app = app
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, Plugin] = {}
        self._subset_cache: dict[tuple[str, frozenset[str]], Any] = {}
        self._registered: dict[str, list[str]] = {}
        for core in core_plugins:
            self.pm.register(core, name=f"core:{getattr(core, '__name__', type(core).__name__)}")
        for module_path in app.config.get("STOREFRONT_PLUGINS") or []:
            self.add(self._import_manifest(module_path))
        if app.config.get("STOREFRONT_LOAD_ENTRY_POINTS", True):
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name in self.plugins:
                    continue
                manifest = ep.load()
                self.add(manifest.plugin if hasattr(manifest, "plugin") else manifest)
        # A misnamed hook implementation fails here, at start-up, not silently later.
        self.pm.check_pending()
        self.hook = _HookProxy(self)
        _watch_plugin_state_writes()

    @staticmethod
    def _import_manifest(module_path: str) -> Plugin:
        module = importlib.import_module(module_path)
        manifest = getattr(module, "plugin", None)
        if not isinstance(manifest, Plugin):
            raise PluginLoadError(f"{module_path} has no `plugin` manifest")
        return manifest

    def add(self, manifest: Plugin) -> None:
        if manifest.name in self.plugins:
            raise PluginLoadError(f"plugin {manifest.name!r} installed twice")
        self.plugins[manifest.name] = manifest
        # A plugin may split its hooks over several modules (a list); each is
        # registered under "<name>", "<name>#2"... and gated together.
        hook_objects = manifest.hooks if isinstance(manifest.hooks, (list, tuple)) else [manifest.hooks]
        names = []
        for index, hooks in enumerate(h for h in hook_objects if h is not None):
            registered = manifest.name if index == 0 else f"{manifest.name}#{index + 1}"
            self.pm.register(hooks, name=registered)
            names.append(registered)
        self._registered[manifest.name] = names
        if manifest.lasting_hooks is not None:  # never in _registered: the switch does not remove them
            self.pm.register(manifest.lasting_hooks, name=f"{manifest.name}:lasting")
        prefix = self.app.config.get("STOREFRONT_URL_PREFIX", "")
        for bp in manifest.lasting_blueprints:
            self.app.register_blueprint(bp, url_prefix=prefix + (bp.url_prefix or f"/p/{manifest.name}"))
        for bp in manifest.blueprints:
            if not getattr(bp, "_storefront_guarded", False):
                bp.before_request(_guard(manifest.name))
                bp._storefront_guarded = True  # one guard, shared by every app
            prefix = self.app.config.get("STOREFRONT_URL_PREFIX", "")
            self.app.register_blueprint(bp, url_prefix=prefix + (bp.url_prefix or f"/p/{manifest.name}"))

    # enabled state -------------------------------------------------------
    def snapshot(self) -> "_StatesSnapshot":
        """Stored plugin states as plain values, read once per app context (request/job).

        The states come with the shop settings in one small query. A request
        takes this worker's last read instead when it is under a second old
        and nothing has changed since (``storefront.config_reuse``); jobs read
        every time. The values are plain (not ORM rows), so
        the commits of ``write_transaction()`` do not expire them and the
        hooks called after a commit cost no reload; a write to
        ``plugin_states`` in this context drops the snapshot (see
        ``_watch_plugin_state_writes``).
        """
        app_g = g_object()  # every hook call asks: the proxy's look-ups are spared
        if app_g is not None:
            cached = app_g.__dict__.get("_plugin_states")
            if cached is not None:
                return cached
        with_settings = app_g is not None and "_shop_settings" not in app_g.__dict__
        reuse = config_reuse.for_request() if with_settings else None
        if reuse is not None:
            recent = reuse.reusable()
            if recent is not None:
                app_g._plugin_states, app_g._shop_settings = recent.states, recent.settings
                return recent.states
            marker = reuse.marker()  # before the read: a write after it retires the copy
        try:
            rows = db.session.execute(_states_query(with_settings)).all()
        except Exception:  # table not migrated yet (first start, `flask db upgrade`)
            db.session.rollback()
            rows, with_settings = [], False
        if with_settings:
            from ..settings import remember_settings

            remember_settings((r.name, r.settings) for r in rows if r.kind == "s")
            rows = [r for r in rows if r.kind == "p"]
        snap = _StatesSnapshot(self, {r.name: StoredState(r.name, bool(r.enabled), dict(r.settings or {}),
                                                          r.version or 0, r.updated_at) for r in rows})
        if app_g is not None:
            app_g._plugin_states = snap
            if reuse is not None and with_settings:
                reuse.keep(marker, snap, app_g._shop_settings)
        return snap

    def states(self) -> dict[str, "StoredState"]:
        """Stored plugin states by name (plain values; see :meth:`snapshot`)."""
        return self.snapshot().rows

    def forget_states(self) -> None:
        if has_app_context():
            g.pop("_plugin_states", None)

    def is_enabled(self, name: str) -> bool:
        return name in self.snapshot().enabled

    def enabled_names(self) -> frozenset[str]:
        return self.snapshot().enabled

    def settings(self, name: str) -> dict[str, Any]:
        manifest = self.plugins[name]
        state = self.states().get(name)
        merged = dict(manifest.default_settings)
        if state is not None and state.settings:
            merged.update(state.settings)
        return merged

    # hook calls ----------------------------------------------------------
    def caller(self, name: str):
        disabled = self.snapshot().disabled
        if not disabled:
            return getattr(self.pm.hook, name)
        key = (name, disabled)
        caller = self._subset_cache.get(key)
        if caller is None:
            removed = [self.pm.get_plugin(registered) for n in disabled for registered in self._registered.get(n, ())
                       if self.pm.get_plugin(registered) is not None]
            caller = self.pm.subset_hook_caller(name, remove_plugins=removed)
            self._subset_cache[key] = caller
        return caller

    def call_safely(self, hook_name: str, /, *, include_disabled: bool = False, first: bool = False,
                    **kwargs) -> list[Any]:
        """Call a decorating hook: one failing plugin is logged and skipped.

        ``hook_name`` is positional-only because hooks have a ``name``
        argument of their own (``template_slot(name, context)``).
        ``include_disabled`` also asks disabled plugins (wording of records
        they wrote earlier); ``first`` stops at the first non-None result.
        """
        name = hook_name
        results: list[Any] = []
        hook_caller = getattr(self.pm.hook, name) if include_disabled else self.caller(name)
        for impl in reversed(hook_caller.get_hookimpls()):
            try:
                argnames = impl.argnames
                value = impl.function(*[kwargs[a] for a in argnames])
            except Exception:
                current_app.logger.exception("plugin %s failed in hook %s", impl.plugin_name, name)
                continue
            if value is not None:
                results.append(value)
                if first:
                    break
        return results


_STATES_QUERIES: dict[bool, Any] = {}


def _states_query(with_settings: bool):
    """The plugin states; with ``with_settings`` the shop settings too, in the same round trip
    (both tiny, both needed by nearly every request: on PostgreSQL a statement is a network
    wait). ``kind`` tells the rows apart: "p" a plugin, "s" a setting (key, value).

    Built once per process: the statement has no parameters, and reusing the same object
    lets SQLAlchemy keep its memoised cache key (building and keying it anew cost about as
    much CPU as running it, on every request)."""
    stmt = _STATES_QUERIES.get(with_settings)
    if stmt is None:
        stmt = _STATES_QUERIES[with_settings] = _build_states_query(with_settings)
    return stmt


def _build_states_query(with_settings: bool):
    from sqlalchemy import Boolean, Integer, cast, literal_column, null, union_all

    from ..settings import STORED
    from ..settings_models import Setting

    states = db.select(literal_column("'p'").label("kind"), PluginState.name.label("name"),
                       PluginState.enabled.label("enabled"), PluginState.settings.label("settings"),
                       PluginState.version.label("version"), PluginState.updated_at.label("updated_at"))
    if not with_settings:
        return states
    return union_all(states, db.select(
        literal_column("'s'"), Setting.key, cast(null(), Boolean), Setting.value, cast(null(), Integer),
        Setting.updated_at).where(STORED))


@dataclass(frozen=True)
class StoredState:
    """One ``plugin_states`` row as plain values (what ``PluginHost.states()`` returns)."""

    name: str
    enabled: bool
    settings: dict
    version: int
    updated_at: datetime | None


class _StatesSnapshot:
    """The stored states of one request with the derived sets computed once."""

    __slots__ = ("rows", "enabled", "disabled")

    def __init__(self, host: PluginHost, rows: dict[str, StoredState]) -> None:
        self.rows = rows
        self.enabled = frozenset(
            n for n, manifest in host.plugins.items()
            if (rows[n].enabled if n in rows else manifest.enabled_by_default))
        self.disabled = frozenset(host.plugins) - self.enabled


def _watch_plugin_state_writes() -> None:
    """Count this process's config writes (``settings.config_writes``) and drop this
    context's snapshot when it writes ``plugin_states``; once per process.

    ORM flush or plain SQL: the next look-up in the same request sees the new
    values (its own transaction's), and a rollback drops what was read meanwhile.
    """
    from ..settings import config_writes

    def _on_write(statement: str) -> None:
        if "plugin_states" in statement:
            g.pop("_plugin_states", None)
            g._plugin_states_written = True

    def _on_end(committed: bool) -> None:
        if g.pop("_plugin_states_written", False) and not committed:
            g.pop("_plugin_states", None)

    config_writes.listen(on_write=_on_write, on_end=_on_end)


def flatten(results: list[Any]) -> list[Any]:
    """Hooks return a list or a single item; flatten the collected results."""
    flat: list[Any] = []
    for item in results:
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            flat.extend(i for i in item if i is not None)
        else:
            flat.append(item)
    return flat


def _guard(name: str):
    def _404_when_disabled():
        if not get_host().is_enabled(name):
            abort(404)

    return _404_when_disabled


def get_host(app: Flask | None = None) -> PluginHost:
    return (app if app is not None else app_object()).extensions["storefront"].host


def register_plugin_api(api, plugin_name: str, blp, path: str, *, lasting: bool = False) -> None:
    """Register a plugin's flask-smorest blueprint at ``<prefix>/api/v1<path>``.

    Call it from the plugin's ``api_routes`` hook. The blueprint is
    CSRF-exempt (API writes need a bearer token, never the session cookie)
    and answers 404 while the plugin is disabled, like its HTML routes --
    unless ``lasting`` (it serves existing orders; see
    ``Plugin.lasting_blueprints``).
    """
    from ..extensions import csrf

    csrf.exempt(blp)
    if not lasting and not getattr(blp, "_storefront_guarded", False):
        blp.before_request(_guard(plugin_name))
        blp._storefront_guarded = True
    prefix = api._app.config.get("STOREFRONT_URL_PREFIX", "")
    api.register_blueprint(blp, url_prefix=f"{prefix}/api/v1{path}")

"""The per-app plugin host: discovery, registration, enabled state and hook calls."""
from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

import pluggy
from flask import Flask, abort, current_app, g, has_app_context

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
    def states(self) -> dict[str, PluginState]:
        """Stored plugin states, read once per app context (request/job)."""
        if has_app_context() and "_plugin_states" in g:
            return g._plugin_states
        try:
            rows = {row.name: row for row in db.session.execute(db.select(PluginState)).scalars()}
        except Exception:  # table not migrated yet (first start, `flask db upgrade`)
            db.session.rollback()
            rows = {}
        if has_app_context():
            g._plugin_states = rows
        return rows

    def forget_states(self) -> None:
        if has_app_context():
            g.pop("_plugin_states", None)

    def is_enabled(self, name: str) -> bool:
        if name not in self.plugins:
            return False
        state = self.states().get(name)
        return state.enabled if state is not None else self.plugins[name].enabled_by_default

    def enabled_names(self) -> frozenset[str]:
        return frozenset(n for n in self.plugins if self.is_enabled(n))

    def settings(self, name: str) -> dict[str, Any]:
        manifest = self.plugins[name]
        state = self.states().get(name)
        merged = dict(manifest.default_settings)
        if state is not None and state.settings:
            merged.update(state.settings)
        return merged

    # hook calls ----------------------------------------------------------
    def caller(self, name: str):
        disabled = frozenset(self.plugins) - self.enabled_names()
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
    app = app or current_app
    return app.extensions["storefront"].host


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

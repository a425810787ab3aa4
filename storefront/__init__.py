"""Storefront: a plugin-based shop as a Flask extension.

>>> from storefront import create_app
>>> app = create_app()

or, inside a host application::

    shop = Storefront()
    shop.init_app(app)   # app.config["STOREFRONT_URL_PREFIX"] = "/shop"
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Flask

from . import config as config_module
from .database import (configure_alembic, configure_engine, install_session_hooks,
                       run_after_commit_callbacks)
from .extensions import csrf, db, limiter, login_manager, migrate

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
MIGRATIONS_DIR = PROJECT_DIR / "migrations"


class Storefront:
    """The Flask extension. Its per-app state lives in ``app.extensions["storefront"]``."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        from .template_i18n import use_localised_templates

        use_localised_templates(app)  # before anything builds app.jinja_env
        self._configure(app)
        install_session_hooks()

        db.init_app(app)
        with app.app_context():
            configure_engine(db.engine)
        migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True,
                         compare_type=True)
        if configure_alembic not in migrate.configure_callbacks:
            migrate.configure(configure_alembic)
        _upgrade_all_branches_by_default()
        csrf.init_app(app)
        from . import csrf_reuse

        csrf_reuse.init_app(app)
        login_manager.init_app(app)
        limiter.init_app(app)

        from .i18n import init_i18n

        init_i18n(app)
        # base.html reads the locale for <html lang> and the language switcher;
        # Flask-Babel 4 does not put get_locale into templates by itself.
        from flask_babel import get_locale

        app.jinja_env.globals.setdefault("get_locale", get_locale)
        from . import url_memo

        url_memo.init_app(app)
        self._import_models()

        from flask_smorest import Api

        state = SimpleNamespace(extension=self, host=None, api=None, huey=None,
                                prefix=app.config["STOREFRONT_URL_PREFIX"])
        app.extensions["storefront"] = state
        state.api = Api(app, spec_kwargs={"components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"}}}})

        core = Blueprint("storefront", __name__, template_folder="templates",
                         static_folder="static", static_url_path=f"{state.prefix}/static/storefront")
        app.register_blueprint(core)

        from . import defaults
        from .plugins.host import PluginHost

        state.host = PluginHost(app, core_plugins=[defaults])
        self._register_domains(app, state)
        state.host.pm.hook.api_routes(api=state.api)

        from .jobs.queue import make_huey
        from .notify.prompt import prompt_task

        state.huey = make_huey(app)
        # Known before the first request: threads of one worker must not register it twice.
        prompt_task(state.huey, lambda: app)

        from .web import init_web

        init_web(app)
        from . import config_reuse, identity_reuse, pagecache

        config_reuse.init_app(app)
        identity_reuse.init_app(app)
        pagecache.init_app(app)
        from . import cookie_session, static_assets

        cookie_session.init_app(app)
        static_assets.init_app(app)
        from .cli import register_cli

        register_cli(app)
        state.host.pm.hook.configure(app=app)

        @app.teardown_appcontext
        def _run_callbacks(_exc):  # callbacks of commits made outside write_transaction
            if _exc is None:
                try:
                    run_after_commit_callbacks()
                except Exception:  # pragma: no cover - logged inside
                    pass

    @staticmethod
    def _configure(app: Flask) -> None:
        for key, value in config_module.from_environment().items():
            # Not setdefault: Flask pre-fills SECRET_KEY (and others) with None,
            # which would silently hide STOREFRONT_SECRET_KEY.
            if app.config.get(key) is None:
                app.config[key] = value
        for key, value in config_module.DEFAULTS.items():
            if app.config.get(key) is None:
                app.config[key] = value
        app.config.setdefault("STOREFRONT_URL_PREFIX", "")
        app.config["STOREFRONT_URL_PREFIX"] = app.config["STOREFRONT_URL_PREFIX"].rstrip("/")
        prefix = app.config["STOREFRONT_URL_PREFIX"]
        if app.config.get("OPENAPI_URL_PREFIX") == "/api/v1" and prefix:
            app.config["OPENAPI_URL_PREFIX"] = f"{prefix}/api/v1"
        if app.config.get("STOREFRONT_PLUGINS") is None:
            app.config["STOREFRONT_PLUGINS"] = list(config_module.BUNDLED_PLUGINS)
        os.makedirs(app.instance_path, exist_ok=True)
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = config_module.instance_secret_key(app.instance_path)
        if not app.config.get("SQLALCHEMY_DATABASE_URI"):
            app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "storefront.db")
        uri = app.config["SQLALCHEMY_DATABASE_URI"]
        if uri.startswith("postgres://"):
            uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgres://"):]
        elif uri.startswith("postgresql://"):
            uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgresql://"):]
        engine_options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        if uri.startswith("sqlite"):
            engine_options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        else:
            engine_options.setdefault("pool_pre_ping", True)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
        if not app.config.get("STOREFRONT_UPLOAD_DIR"):
            app.config["STOREFRONT_UPLOAD_DIR"] = os.path.join(app.instance_path, "uploads")
        if app.config.get("STOREFRONT_HTTPS"):
            for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
                app.config[key] = True
            app.config["PREFERRED_URL_SCHEME"] = "https"
        proxies = int(app.config.get("STOREFRONT_PROXY_COUNT") or 0)
        if proxies and not getattr(app.wsgi_app, "_storefront_proxy_fix", False):
            from werkzeug.middleware.proxy_fix import ProxyFix

            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
            app.wsgi_app._storefront_proxy_fix = True
        redis_url = app.config.get("STOREFRONT_REDIS_URL")
        if redis_url and app.config.get("RATELIMIT_STORAGE_URI") in ("memory://", "storefront-memory://"):
            app.config["RATELIMIT_STORAGE_URI"] = redis_url

    @staticmethod
    def _import_models() -> None:
        from .accounts import models as _accounts  # noqa: F401
        from .audit import models as _audit  # noqa: F401
        from .cart import models as _cart  # noqa: F401
        from .catalog import models as _catalog  # noqa: F401
        from .notify import models as _notify  # noqa: F401
        from .orders import models as _orders  # noqa: F401
        from .payments import models as _payments  # noqa: F401
        from . import settings_models as _settings  # noqa: F401

    @staticmethod
    def _register_domains(app: Flask, state: Any) -> None:
        from .accounts.views import bp as accounts_bp
        from .admin.views import bp as admin_bp
        from .cart.views import bp as cart_bp
        from .catalog.views import bp as catalog_bp
        from .checkout.views import bp as checkout_bp
        from .orders.views import bp as orders_bp
        from .payments.views import bp as payments_bp
        from .api import register_api

        prefix = state.prefix
        app.register_blueprint(catalog_bp, url_prefix=prefix or None)
        app.register_blueprint(accounts_bp, url_prefix=f"{prefix}/account")
        app.register_blueprint(cart_bp, url_prefix=f"{prefix}/cart")
        app.register_blueprint(checkout_bp, url_prefix=f"{prefix}/checkout")
        app.register_blueprint(orders_bp, url_prefix=f"{prefix}/orders")
        app.register_blueprint(payments_bp, url_prefix=f"{prefix}/pay")
        app.register_blueprint(admin_bp, url_prefix=f"{prefix}/admin")
        register_api(state.api, prefix)


def _upgrade_all_branches_by_default() -> None:
    """Make a bare ``flask db upgrade`` upgrade every branch ("heads").

    Each plugin brings its own Alembic branch, and Alembic refuses "head"
    (Flask-Migrate's default) once there are several. Changing the default
    of the command's argument keeps ``flask db upgrade <rev>`` as it was.
    """
    from flask_migrate.cli import upgrade as upgrade_command

    for param in upgrade_command.params:
        if param.name == "revision" and param.default == "head":
            param.default = "heads"


class ShopFlask(Flask):
    """The shop's Flask application class.

    ``ensure_sync`` is asked of every view, before- and after-request function,
    context processor and teardown on every request (seventeen times for a
    signed-in page), and Flask answers with ``inspect.iscoroutinefunction`` each
    time; the answer for a function never changes, so it is remembered. At most
    ``_SYNC_LIMIT`` functions are: one built per request would otherwise grow it."""

    _SYNC_LIMIT = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync_callables: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync_callables[func]
        except KeyError:
            ensured = super().ensure_sync(func)
            if len(self._sync_callables) < self._SYNC_LIMIT:
                self._sync_callables[func] = ensured
            return ensured
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


def create_app(config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build a complete shop (used by ``wsgi.py`` and the tests)."""
    kwargs = {"instance_path": instance_path} if instance_path else {"instance_path": str(PROJECT_DIR / "instance")}
    app = ShopFlask("storefront_app", instance_relative_config=True, **kwargs)
    app.config.update(config or {})
    Storefront(app)
    return app


def get_state(app: Flask | None = None):
    from flask import current_app

    return (app or current_app).extensions["storefront"]

"""The Flask extensions the storefront uses, unbound until ``init_app``."""
from __future__ import annotations

import time

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from sqlalchemy import MetaData

# Stable constraint names so that Alembic migrations are reproducible on
# SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class SweepingMemoryStorage(MemoryStorage):
    """``storefront-memory://``: limits' in-memory storage without its expiry thread.

    ``MemoryStorage`` starts a ``threading.Timer`` whenever a counter is
    touched and no timer is running (a thread start every few requests under
    load: ~3 % of the flash sale's time). Counters already expire when read
    (``get`` drops an expired key, moving windows filter by time), so the
    sweep only frees memory: here it runs inline, at most once a second, in
    the request that happens to come along. Production with several workers
    or machines should set ``STOREFRONT_REDIS_URL`` (shared counters) anyway.
    """

    STORAGE_SCHEME = ["storefront-memory"]
    SWEEP_EVERY = 1.0  # seconds

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._last_sweep = time.monotonic()

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the parent's private hook
        now = time.monotonic()
        if now - self._last_sweep >= self.SWEEP_EVERY:
            self._last_sweep = now
            self._MemoryStorage__expire_events()

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._last_sweep = time.monotonic()


class ShopLimiter(Limiter):
    """Flask-Limiter, its before-request pass skipped while it has nothing to apply there.

    Every limit of the shop is a route's or a code block's own (``@limiter.limit``,
    ``shared_limit``), checked when that code runs. Before the view, Flask-Limiter looks
    only for application, default and blueprint limits (and, once a storage failed, its
    in-memory fallback), of which the shop sets none; yet finding that out -- the view's
    qualified name, its exemptions, the limits resolved and filtered, the meta limits --
    cost a cart page a twentieth of its instructions. The pass runs in full as soon as any
    of them exists (a deployment's ``RATELIMIT_DEFAULT``, say). Hinted limits (a
    ``shared_limit`` block inside a view) only ever bring the default limits into this
    pass, so without defaults they change nothing here either. An attribute this version
    of Flask-Limiter does not have counts as something to apply: the full pass runs.
    """

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware and callable_name is None and self._nothing_before_views():
            return
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)

    def _nothing_before_views(self) -> bool:
        manager = getattr(self, "limit_manager", None)
        return not (getattr(manager, "_application_limits", True) or getattr(manager, "_default_limits", True)
                    or getattr(manager, "_blueprint_limits", True) or getattr(self, "_meta_limits", True)
                    or getattr(self, "_storage_dead", True))


limiter = ShopLimiter(key_func=get_remote_address)
api = Api()

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


limiter = Limiter(key_func=get_remote_address)
api = Api()

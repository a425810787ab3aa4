"""A worker's last read of the shop settings and plugin states, reused for up to a second.

Every request needs both: the layout shows the settings, the plugin host
gates hooks and routes by the states, per-worker caches key on their digest.
They come in one small query (``PluginHost.snapshot``): 7 % of the signed-in
floor's CPU on SQLite, and on PostgreSQL a round trip and the server's work on
every request (four of a paid flash order's 45 statements), for values a
seller changes a few times a day. So a worker
keeps what one request read and hands it to the requests that follow, for up
to ``STOREFRONT_CONFIG_REUSE_SECONDS`` (1 s; ``0`` reads on every request):

- A write this process makes to ``settings`` or ``plugin_states`` (ORM or
  plain SQL, counted by the host's statement watcher as
  ``settings.config_writes``) retires the copy: this worker's next
  request reads again. A request with such a write still open never shares
  what it read (the other requests would see uncommitted values).
- The write's commit also stamps ``<instance>/config-changed``, and every
  reuse compares that file's stamp with the copy's (one ``stat``). So a
  switch or setting saved in any worker of this host shows on the very next
  request of all of them: the seller sees what they saved, whichever worker
  serves the next page.
- Only a writer on another host, or one writing behind SQLAlchemy's back
  (``psql``), waits out the window: up to a second.

Requests reuse; jobs and sweeps (deadlines, refunds, deliveries) read on
every run.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_request_context

from . import reuse_signal
from .context_objects import app_object
from .settings import config_writes, local_config_writes

EXTENSION_KEY = "storefront_config_reuse"
SIGNAL_FILE = "config-changed"

#: The clock of the window; tests patch it.
_now = time.monotonic


@dataclass(frozen=True)
class Marker:
    """Taken before a read: what must not have moved for its copy to be reused."""
    writes: int
    stamp: int


@dataclass(frozen=True)
class RecentConfig:
    until: float
    marker: Marker
    states: Any  # plugins.host._StatesSnapshot: plain values, never expired by a commit
    settings: dict[str, Any]


class ConfigReuse:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.signal_path = os.path.join(app.instance_path, SIGNAL_FILE)
        self.recent: RecentConfig | None = None

    @property
    def seconds(self) -> float:
        return float(self.app.config.get("STOREFRONT_CONFIG_REUSE_SECONDS") or 0)

    def marker(self) -> Marker:
        return Marker(local_config_writes(), self._stamp())

    def reusable(self) -> RecentConfig | None:
        recent = self.recent
        if recent is None or recent.until <= _now() or recent.marker != self.marker():
            return None
        return recent

    def keep(self, marker: Marker, states, settings: dict[str, Any]) -> None:
        # One assignment: a gthread worker's other threads see the old copy or the new one.
        self.recent = RecentConfig(_now() + self.seconds, marker, states, settings)

    def clear(self) -> None:
        self.recent = None

    def signal(self) -> None:
        """Tell this host's other workers that the config changed (after the commit)."""
        reuse_signal.touch(self.signal_path)

    def _stamp(self) -> int:
        return reuse_signal.stamp(self.signal_path)


def init_app(app: Flask) -> ConfigReuse:
    reuse = app.extensions.get(EXTENSION_KEY)
    if reuse is None:
        reuse = app.extensions[EXTENSION_KEY] = ConfigReuse(app)
    return reuse


def for_request() -> ConfigReuse | None:
    """This app's reuse, when the current context may take part in it: a request that
    has not written config in its open transaction, with a window above 0."""
    if not has_request_context() or config_writes.open_here():
        return None
    reuse = app_object().extensions.get(EXTENSION_KEY)
    if reuse is None or reuse.seconds <= 0:
        return None
    return reuse


def signal_change() -> None:
    reuse = current_app.extensions.get(EXTENSION_KEY)
    if reuse is not None:
        reuse.signal()

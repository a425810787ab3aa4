"""What a per-worker copy of rarely changing rows needs to know it went stale.

A worker that keeps a read for reuse (``config_reuse``: the settings and
plugin states; ``identity_reuse``: recent sign-ins) retires it when:

- this process wrote the rows: a :class:`WriteWatch` counts its writes to the
  tables (ORM flush or plain SQL through SQLAlchemy) and marks the request
  that has one open, which must not share what it read;
- another worker of the host committed such a write: that worker's commit
  stamps a file in the instance folder, and a reuse compares the file's
  modification stamp with the one it saw when it read. One ``stat`` per
  reuse: far cheaper than the query it saves.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import g, has_app_context, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .context_objects import app_object, g_object


def touch(path: str) -> None:
    """Stamp ``path`` now (after the commit), creating it if need be."""
    stamp = time.time_ns()  # explicit: the kernel's own file times tick only every few ms
    try:
        try:
            os.utime(path, ns=(stamp, stamp))
        except FileNotFoundError:
            with open(path, "a"):
                pass
            os.utime(path, ns=(stamp, stamp))
    except OSError:  # a read-only instance folder: the reuse window alone bounds staleness
        pass


def stamp(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


class WriteWatch:
    """This process's writes to some tables, seen on every engine's statements.

    ``writes`` counts them at the write and again at its commit or rollback, so a copy
    read in between (another thread, the old values) is stale too; a copy taken at
    another count is not reused. The app context with a write open is marked
    (``g._<name>_written``, :meth:`open_here`). After the write's commit (the
    session's, not the engine's event, which fires before the database commits)
    ``signal`` tells the host's other workers.
    """

    def __init__(self, name: str, is_write: Callable[[str], bool], signal: Callable[[], None]) -> None:
        self.writes = 0
        self._is_write = is_write
        self._signal = signal
        self._open = f"_{name}_written"
        self._committing = f"_{name}_committing"
        self._listening = False

    def note(self) -> None:
        self.writes += 1

    def open_here(self) -> bool:
        """Whether the current app context has such a write open (uncommitted)."""
        app_g = g_object()
        return app_g is not None and bool(app_g.__dict__.get(self._open))

    def listen(self, on_write: Callable[[str], None] | None = None,
               on_end: Callable[[bool], None] | None = None) -> None:
        """Start watching (once per process). ``on_write(statement)`` runs in the app context
        of each watched write, ``on_end(committed)`` at every commit or rollback in one."""
        if self._listening:
            return
        self._listening = True
        self._on_write, self._on_end = on_write, on_end
        if not _WATCHES:
            _listen_to_every_engine()
        _WATCHES.append(self)

    def _seen(self, statement: str, in_app: bool) -> None:
        if self._is_write(statement):
            self.note()
            if in_app:
                setattr(g, self._open, True)
                if self._on_write is not None:
                    self._on_write(statement)

    def _ended(self, committed: bool) -> None:  # in an app context
        app_g = g_object()  # at every commit and rollback
        if app_g.__dict__.pop(self._open, False):
            self.note()
            if committed:
                setattr(app_g, self._committing, True)
        if self._on_end is not None:
            self._on_end(committed)

    def _after_commit(self) -> None:  # in an app context
        if g_object().__dict__.pop(self._committing, False):
            self.note()
            self._signal()


#: The watches listening. One listener per event serves them all: every statement the
#: shop sends passes the "before execute" one, and a listener each cost a wrapper call
#: and a context check per watch.
_WATCHES: list[WriteWatch] = []


def _listen_to_every_engine() -> None:
    def _on_execute(_conn, _cursor, statement, _params, _context, _many):
        in_app = has_app_context()
        for watch in _WATCHES:
            watch._seen(statement, in_app)

    def _on_end(committed: bool):
        def handler(*_args):
            if has_app_context():
                for watch in _WATCHES:
                    watch._ended(committed)
        return handler

    def _after_commit(_session):
        if has_app_context():
            for watch in _WATCHES:
                watch._after_commit()

    event.listen(Engine, "before_cursor_execute", _on_execute)
    event.listen(Engine, "rollback", _on_end(False))
    event.listen(Engine, "rollback_savepoint", _on_end(False))
    event.listen(Engine, "commit", _on_end(True))
    event.listen(Session, "after_commit", _after_commit)


@dataclass(frozen=True, slots=True)
class _Kept:
    until: float
    marker: tuple[int, int]
    value: Any


class KeptCopies:
    """A worker's copies by key, retired by a :class:`WriteWatch` and its signal file.

    A copy is good while the window's clock is before its ``until`` and the marker taken
    before its read (this process's watched writes, the signal file's stamp) has not
    moved. At most ``limit`` are kept; the oldest go first. ``clock`` is called on every
    use, so a module's clock that tests patch stays patchable."""

    def __init__(self, watch: WriteWatch, signal_path: str, clock: Callable[[], float]) -> None:
        self.watch = watch
        self.signal_path = signal_path
        self.clock = clock
        self.copies: dict[Any, _Kept] = {}
        self._lock = threading.Lock()  # gthread workers: eviction walks the dict

    def marker(self) -> tuple[int, int]:
        """Taken before a read: what must not have moved for its copy to be reused."""
        return self.watch.writes, stamp(self.signal_path)

    def fresh(self, key, marker: tuple[int, int], now: float) -> Any | None:
        """The value kept for ``key`` if still good at ``now`` for ``marker`` (both taken once
        by a caller that looks up many keys)."""
        copy = self.copies.get(key)
        if copy is None or copy.until <= now or copy.marker != marker:
            return None
        return copy.value

    def lookup(self, key) -> tuple[Any | None, tuple[int, int]]:
        """The value kept for ``key`` if still good, and the marker keeping a new read needs."""
        marker = self.marker()
        return self.fresh(key, marker, self.clock()), marker

    def keep(self, values: dict, marker: tuple[int, int], seconds: float, limit: int) -> None:
        """Keep ``values`` (key -> value), read after ``marker`` was taken, for ``seconds``."""
        if self.watch.open_here() or limit <= 0:
            return  # read inside this request's own open write: maybe never committed
        until = self.clock() + seconds
        with self._lock:
            for key, value in values.items():
                self.copies.pop(key, None)
                while len(self.copies) >= limit:
                    self.copies.pop(next(iter(self.copies)))
                self.copies[key] = _Kept(until, marker, value)

    def clear(self) -> None:
        with self._lock:
            self.copies.clear()

    def signal(self) -> None:
        """Tell this host's other workers (after the commit)."""
        touch(self.signal_path)


def in_settings_window(watch: WriteWatch, extension_key: str,
                       make: Callable[[str], KeptCopies]) -> tuple[Any, float] | None:
    """A plugin's copies that follow the settings' window (``STOREFRONT_CONFIG_REUSE_SECONDS``):
    ``app.extensions[extension_key]``, made by ``make(instance_path)`` on first use, and the
    window, when the current context may use them -- a request without a write of ``watch``'s
    of its own open, with a window above 0."""
    if not has_request_context() or watch.open_here():
        return None
    app = app_object()
    seconds = float(app.config.get("STOREFRONT_CONFIG_REUSE_SECONDS") or 0)
    if seconds <= 0:
        return None
    copies = app.extensions.get(extension_key)
    if copies is None:
        copies = app.extensions.setdefault(extension_key, make(app.instance_path))
    return copies, seconds

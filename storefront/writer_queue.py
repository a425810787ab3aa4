"""On SQLite, writers queue on a file lock instead of polling for the database's.

SQLite lets one writer in at a time. A writer that finds the database locked
waits in SQLite's busy handler, which sleeps in growing steps (1, 2, 5, 10 …
100 ms) and tries again, so it usually sleeps on after the lock has freed. In
the flash sale a payment spent 6 ms on average waiting for write transactions
that held the lock for 3-5 ms, and both workers sat idle on each other.

A :func:`~storefront.database.write_transaction` on a SQLite file therefore
first takes an exclusive ``flock`` on a file beside the database and holds it
until its transaction has ended: the kernel wakes the next writer as soon as
the holder lets go. SQLite's own lock still decides who writes (writers outside
``write_transaction``, the ``sqlite3`` shell, backups), so this only changes
how long a queued writer waits, never whether writes are serialised.

The queue has no timeout of its own (Linux has no timed ``flock``): a writer
waits for the one ahead of it, which gives up after SQLite's 30 s
``busy_timeout`` if something outside the queue (a restore, the ``sqlite3``
shell) holds the database that long. A request stuck behind it is ended by
gunicorn's worker timeout (30 s by default), as it would have been before.

The lock belongs to an open file, so each thread opens its own (gthread
workers exclude each other too) and a process that inherited the file across
``fork`` opens a new one (a lock on a shared open file would be shared).
"""
from __future__ import annotations

import os
import threading

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None

_local = threading.local()


def lock_path(database: str | None) -> str | None:
    """The lock file for a SQLite database path, or None where there is nothing to queue on
    (an in-memory database, or a platform without ``flock``)."""
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + "-writers.lock"


def acquire(path: str) -> None:
    """Wait for the writers' lock at ``path`` (already held by this thread: no-op)."""
    if getattr(_local, "held", None) is not None:
        return
    handle = _handle(path)
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    _local.held = handle


def release() -> None:
    """Let the next writer in; safe to call when this thread holds nothing."""
    handle = getattr(_local, "held", None)
    if handle is not None:
        _local.held = None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _handle(path: str):
    handles = getattr(_local, "handles", None)
    if handles is None or _local.pid != os.getpid():
        handles = _local.handles = {}
        _local.pid = os.getpid()
    handle = handles.get(path)
    if handle is None:
        # A file object, so that a finished thread's handle is closed with it.
        handle = handles[path] = open(path, "ab")  # noqa: SIM115 - held for the thread's life
    return handle

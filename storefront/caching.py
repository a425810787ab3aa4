"""A bounded, expiring LRU shared by the per-worker caches (page cache, plugin hints).

Callers pass the time and the bounds: each keeps its own clock (tests patch it)
and may read its bounds from the configuration at the moment of writing.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cached:
    expires: float
    size: int
    value: Any


class ExpiringLRU:
    """Least recently used entries go first once ``max_entries`` or ``max_bytes`` is exceeded;
    an expired entry is dropped when read. Safe across threads (gthread workers)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Any, Cached] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key, now: float):
        """The value stored under ``key`` if it has not expired at ``now``, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key, value, *, expires: float, max_entries: int, size: int = 0,
            max_bytes: int | None = None) -> None:
        if max_entries <= 0:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = Cached(expires, size, value)
            self._size += size
            while len(self._entries) > max_entries or (max_bytes is not None and self._size > max_bytes):
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        """The keys held now, oldest first (a copy: other threads may write meanwhile)."""
        with self._lock:
            return iter(list(self._entries))

    def _drop(self, key) -> None:
        self._size -= self._entries.pop(key).size

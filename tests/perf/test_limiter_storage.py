"""The default rate-limit storage: in memory, without a timer thread per touched key (issue 9).

The 429 answers themselves are tested end to end in tests/accounts/test_csrf_and_limits.py
(they run on this storage)."""
from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from storefront.extensions import SweepingMemoryStorage


def test_default_storage_is_the_sweeping_one(app):
    assert app.config["RATELIMIT_STORAGE_URI"] == "storefront-memory://"
    assert isinstance(storage_from_string("storefront-memory://"), SweepingMemoryStorage)


def test_limits_hold_and_expire_without_threads():
    storage = storage_from_string("storefront-memory://")
    time.sleep(0.05)  # the parent's one start-up timer has fired
    before = threading.active_count()
    fixed, moving = FixedWindowRateLimiter(storage), MovingWindowRateLimiter(storage)
    item = parse("3/second")
    assert [fixed.hit(item, "ip", str(i)) for i in range(50) for _ in range(4)].count(False) == 50
    assert [moving.hit(item, "acct") for _ in range(4)] == [True, True, True, False]
    assert threading.active_count() == before  # limits' MemoryStorage would have started timers
    time.sleep(1.05)
    assert fixed.hit(item, "ip", "0") and moving.hit(item, "acct")


def test_expired_keys_are_swept_inline():
    storage = SweepingMemoryStorage()
    storage.SWEEP_EVERY = 0.0
    storage.incr("gone", expiry=0.01)
    time.sleep(0.02)
    storage.incr("other", expiry=60)  # the next touch sweeps
    assert "gone" not in storage.storage and storage.get("other") == 1

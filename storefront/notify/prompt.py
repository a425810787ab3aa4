"""Prompt delivery: a message goes out seconds after its transaction commits.

The worker's pass every minute is the safety net, but a buyer who asked for a
password-reset or registration link is waiting at the mail client, and a paid
order's confirmation should not trail the payment by up to a minute.

**Web side.** A transaction that queues a message asks the worker, once it has
committed, for a delivery pass (the Huey task ``storefront.deliver_soon``). A
flag in the queue's storage (``put_if_empty``: Redis ``SETNX``, or an ``INSERT OR
ABORT`` on SQLite) keeps at most one such task waiting across every web process,
however many orders a flash commits: the pass drains every due message, so one
request covers them all. A pass clears the flag as it starts, before it claims
anything, so a message committed after that asks again and is never left to
the next minute; one committed while a pass waits to start finds the flag set
and is claimed by that pass.

**Worker side.** One prompt pass at a time per worker process; a request that
arrives while one runs makes it go round once more instead of starting a second
pass beside it. Passes start at least :data:`MIN_GAP` seconds apart: in a flash
a pass per paid order would take SQLite's write lock for a handful of messages
each time, in turn with the buyers checking out (measured: a fifth fewer paid
orders per second), where a pass every two seconds claims them fifty at a time,
as the minute's pass does. A message waits no longer than that gap, and a lone
one (a reset link on a quiet day) goes at once. When a pass stops on a failing
backend (the mail server is down), prompt passes pause for
:data:`PAUSE_AFTER_FAILURE` and the per-minute pass, with its retry back-off,
carries on alone.

``STOREFRONT_DELIVERY_PROMPT = False`` switches the web side off: with cron
instead of a worker (``flask storefront deliver`` every minute) nothing would
run the requested passes.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from flask import current_app

from ..database import after_commit

TASK_NAME = "storefront.deliver_soon"
#: The queue-storage key that says a prompt pass is waiting to run.
REQUESTED_KEY = "storefront.delivery-requested"
#: A requested pass the worker has not started within this long is dropped: the
#: per-minute pass has sent its messages by then.
TASK_EXPIRES = 600
#: Seconds between the starts of two prompt passes in one worker process.
MIN_GAP = 2.0
PAUSE_AFTER_FAILURE = 60.0


def request_prompt_delivery() -> None:
    """Inside a transaction that queues a message: once it commits, ask for a delivery pass."""
    if current_app.config.get("STOREFRONT_DELIVERY_PROMPT"):
        after_commit(_ask_for_pass, once=True)


def _ask_for_pass() -> None:
    app = current_app._get_current_object()
    state = app.extensions["storefront"]
    wake = getattr(state, "wake_delivery", None)
    if wake is not None:  # the single-process demo's worker thread
        wake()
        return
    huey = state.huey
    try:
        if not huey.put_if_empty(REQUESTED_KEY, 1):
            return  # a pass is already waiting: it will claim this message too
        try:
            prompt_task(huey, lambda: app)()
        except Exception:
            huey.delete(REQUESTED_KEY)  # or no later commit would ask again
            raise
    except Exception:
        # The order is committed either way; the per-minute pass sends the message.
        app.logger.warning("could not ask the worker for a delivery pass", exc_info=True)


def clear_request(huey) -> None:
    """Called by every worker pass before it claims: a message committed after this asks again."""
    huey.delete(REQUESTED_KEY)


def prompt_task(huey, app_factory: Callable):
    """Attach ``storefront.deliver_soon`` to ``huey`` once and return it (web and worker side)."""
    existing = getattr(huey, "_storefront_prompt_task", None)
    if existing is not None:
        return existing
    holder: dict = {}

    @huey.task(name=TASK_NAME, expires=TASK_EXPIRES)
    def deliver_soon() -> None:  # returns nothing: Huey would keep a result per run
        if "app" not in holder:
            holder["app"] = app_factory()
        app = holder["app"]
        with app.app_context():
            runner(app).run()

    huey._storefront_prompt_task = deliver_soon
    return deliver_soon


class PromptRunner:
    """One prompt pass at a time in this process; requests meanwhile make it run again."""

    def __init__(self, deliver: Callable[[], object], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, min_gap: float = MIN_GAP):
        self._deliver = deliver  # returns the pass's outcome (delivery.PassOutcome)
        self._clock = clock
        self._sleep = sleep
        self._min_gap = min_gap
        self._running = threading.Lock()
        self._again = threading.Event()
        self._paused_until = float("-inf")
        self._last_start = float("-inf")

    def run(self) -> None:
        self._again.set()
        # Whoever holds the lock sees the flag after its pass; a request that sets it just
        # after the holder's last look finds the lock free once the holder lets go.
        while self._again.is_set():
            if not self._running.acquire(blocking=False):
                return
            try:
                while self._again.is_set():
                    if self._clock() < self._paused_until:
                        self._again.clear()
                        return
                    wait = self._last_start + self._min_gap - self._clock()
                    if wait > 0:
                        self._sleep(wait)
                    # Requests made until now are covered by this pass; later ones make another.
                    self._again.clear()
                    self._last_start = self._clock()
                    outcome = self._deliver()
                    if outcome.backend_failing:
                        self._paused_until = self._clock() + PAUSE_AFTER_FAILURE
            finally:
                self._running.release()

    @property
    def paused(self) -> bool:
        return self._clock() < self._paused_until


_runner_lock = threading.Lock()


def runner(app) -> PromptRunner:
    """The app's prompt-pass runner (one per worker process)."""
    state = app.extensions["storefront"]
    with _runner_lock:
        existing = getattr(state, "prompt_runner", None)
        if existing is None:
            from .delivery import delivery_pass

            def one_pass():
                # Cleared as the pass starts, not when the task arrives: while a pass waits
                # out the gap, or while a failing backend pauses them, commits find the flag
                # set and queue no more tasks.
                clear_request(state.huey)
                return delivery_pass()

            existing = state.prompt_runner = PromptRunner(one_pass)
        return existing

"""Prompt delivery: a committed message asks the worker for a pass at once, one request
covers any number of messages, and nothing about it can hurt the request that committed."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from huey import MemoryHuey
from sqlalchemy import select

from storefront import demo
from storefront.accounts.mail import queue_account_mail
from storefront.database import write_transaction
from storefront.extensions import db
from storefront.jobs.queue import register_tasks
from storefront.notify.delivery import PassOutcome
from storefront.notify.models import OutboxMessage
from storefront.notify.prompt import MIN_GAP, PAUSE_AFTER_FAILURE, REQUESTED_KEY, TASK_NAME, PromptRunner, runner
from tests.factories import make_user
from tests.notify.helpers import eventually

from ..checkout.helpers import fresh
from ..payments.test_payments import pay, placed

WAIT = 30  # seconds; far above any step here, so only a real stall trips it


@pytest.fixture
def queue(app, monkeypatch):
    """Prompt delivery on, over a queue that keeps its tasks until the test runs them (no consumer)."""
    huey = MemoryHuey("prompt-test", immediate=False)
    state = app.extensions["storefront"]
    monkeypatch.setattr(state, "huey", huey)
    monkeypatch.setattr(state, "wake_delivery", None, raising=False)
    monkeypatch.setattr(state, "prompt_runner", None, raising=False)
    monkeypatch.setitem(app.config, "STOREFRONT_DELIVERY_PROMPT", True)
    return huey


def waiting(huey) -> list[str]:
    return [task.name for task in huey.pending()]


def run_waiting(huey) -> int:
    """Run the queued tasks, and those they queue, as the consumer would; how many ran."""
    ran = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        ran += 1
    return ran


def statuses() -> list[str]:
    fresh()
    return list(db.session.execute(select(OutboxMessage.status).order_by(OutboxMessage.id)).scalars())


def forgot(client, email: str):
    return client.post("/account/password/forgot", data={"email": email})


def test_a_reset_link_asks_for_a_pass_and_the_pass_sends_it(app, client, queue):
    user = make_user()
    assert forgot(client, user.email).status_code == 302
    assert waiting(queue) == [TASK_NAME]
    assert statuses() == ["pending"]
    run_waiting(queue)
    assert statuses() == ["sent"]
    assert queue.get(REQUESTED_KEY, peek=True) is None
    # The pass is over: the next message asks again.
    assert forgot(client, user.email).status_code == 302
    assert waiting(queue) == [TASK_NAME]


def test_commits_while_a_pass_waits_out_its_gap_queue_no_more_requests(app, client, queue, monkeypatch):
    user = make_user()
    passes = runner(app)
    monkeypatch.setattr(passes, "_clock", lambda: 1000.0)  # the next pass is always inside the gap
    assert forgot(client, user.email).status_code == 302
    run_waiting(queue)
    assert statuses() == ["sent"]
    assert forgot(client, user.email).status_code == 302  # the pass is over: this one asks
    asked_meanwhile = []

    def a_buyer_asks_meanwhile(_seconds):
        if not asked_meanwhile:  # once: every later pass waits its gap too
            asked_meanwhile.append(forgot(client, user.email).status_code)

    monkeypatch.setattr(passes, "_sleep", a_buyer_asks_meanwhile)
    # The message committed during the wait found the flag set and queued no second task;
    # the pass that followed the wait sent it with the other.
    assert run_waiting(queue) == 1
    assert asked_meanwhile == [302]
    assert statuses() == ["sent"] * 3


def test_a_sale_of_paid_orders_waits_on_one_request(app, queue):
    placed_orders = [placed(app) for _ in range(5)]
    run_waiting(queue)  # placing queues no message; nothing should be waiting anyway
    for _user, reference, _order_id in placed_orders:
        pay(app, reference)
    assert waiting(queue) == [TASK_NAME]
    run_waiting(queue)
    assert statuses() == ["sent"] * 5
    _user, reference, _order_id = placed(app)
    pay(app, reference)
    assert waiting(queue) == [TASK_NAME]


def test_a_rolled_back_message_asks_for_nothing(app, queue):
    with app.test_request_context(), pytest.raises(RuntimeError):
        with write_transaction():
            queue_account_mail("account_password_reset_unknown", "nobody@example.com", register_link="x")
            raise RuntimeError("the change failed")
    assert waiting(queue) == [] and statuses() == []


def test_switched_off_the_message_waits_for_the_minute_pass(app, client, queue):
    app.config["STOREFRONT_DELIVERY_PROMPT"] = False
    assert forgot(client, make_user().email).status_code == 302
    assert waiting(queue) == [] and statuses() == ["pending"]


def test_a_queue_that_is_down_costs_the_request_nothing(app, client, queue, monkeypatch, caplog):
    user = make_user()

    def refuse(*_args, **_kwargs):
        raise ConnectionError("redis: connection refused")

    with monkeypatch.context() as down:
        down.setattr(queue.storage, "enqueue", refuse)
        with caplog.at_level(logging.WARNING):
            assert forgot(client, user.email).status_code == 302
    assert statuses() == ["pending"]  # committed: the minute pass will send it
    assert "could not ask the worker for a delivery pass" in caplog.text
    # The failed request left no flag behind, so the next message asks again.
    assert queue.get(REQUESTED_KEY, peek=True) is None
    assert forgot(client, user.email).status_code == 302
    assert waiting(queue) == [TASK_NAME]


def test_the_minute_pass_clears_a_request_whose_task_was_lost(app, client, queue):
    queue.put(REQUESTED_KEY, 1)  # the task itself vanished (a consumer died holding it)
    user = make_user()
    assert forgot(client, user.email).status_code == 302
    assert waiting(queue) == []  # the stale flag says a pass is waiting
    _sweep, deliver = register_tasks(queue, lambda: app)
    queue.execute(deliver.s())
    assert statuses() == ["sent"]
    assert forgot(client, user.email).status_code == 302
    assert waiting(queue) == [TASK_NAME]


def test_a_request_the_worker_takes_too_long_to_start_is_dropped(app, client, queue):
    """A worker back after a long stop finds old requests: it skips them, and its minute pass
    (which clears the flag) sends what they asked for."""
    from huey.utils import utcnow as huey_now

    from storefront.notify.prompt import TASK_EXPIRES

    assert forgot(client, make_user().email).status_code == 302
    task = queue.dequeue()
    queue.execute(task, timestamp=huey_now() + timedelta(seconds=TASK_EXPIRES + 1))
    assert statuses() == ["pending"]
    _sweep, deliver = register_tasks(queue, lambda: app)
    queue.execute(deliver.s())
    assert statuses() == ["sent"] and queue.get(REQUESTED_KEY, peek=True) is None


class _Passes:
    """A delivery stand-in that counts passes, can hold one open, and checks none overlap."""

    def __init__(self, failing: bool = False):
        self.lock = threading.Lock()
        self.running = self.most_at_once = self.count = 0
        self.hold: threading.Event | None = None
        self.started = threading.Event()
        self.failing = failing

    def __call__(self) -> PassOutcome:
        with self.lock:
            self.running += 1
            self.count += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.started.set()
        hold, self.hold = self.hold, None
        if hold is not None:
            assert hold.wait(WAIT)
        with self.lock:
            self.running -= 1
        return PassOutcome(sent=0, backend_failing=self.failing)


def test_requests_during_a_pass_make_it_go_round_once_more_not_start_another():
    passes = _Passes()
    runner = PromptRunner(passes, min_gap=0)
    release = passes.hold = threading.Event()
    first = threading.Thread(target=runner.run)
    first.start()
    assert passes.started.wait(WAIT)
    others = [threading.Thread(target=runner.run) for _ in range(6)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(WAIT)
        assert not thread.is_alive()  # each returned at once, leaving its request to the running pass
    assert passes.count == 1
    release.set()
    first.join(WAIT)
    assert not first.is_alive()
    # One more pass covers all six requests; never two passes at once.
    assert passes.count == 2 and passes.most_at_once == 1


def test_in_a_sale_passes_start_at_least_the_gap_apart():
    """A pass per paid order would take SQLite's write lock for a few messages each time; passes
    MIN_GAP apart claim them by the batch, and a lone message still goes at once."""
    now = [1000.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    passes = _Passes()
    runner = PromptRunner(passes, clock=lambda: now[0], sleep=sleep)
    runner.run()
    now[0] += 0.5
    runner.run()  # half a second later: waits out the rest of the gap, then one pass for all
    assert passes.count == 2 and slept == [pytest.approx(MIN_GAP - 0.5)]
    now[0] += 60
    runner.run()  # a quiet minute later: at once
    assert passes.count == 3 and len(slept) == 1


def test_a_failing_backend_pauses_prompt_passes():
    now = [1000.0]
    passes = _Passes(failing=True)
    runner = PromptRunner(passes, clock=lambda: now[0])
    runner.run()
    assert passes.count == 1 and runner.paused
    runner.run()
    now[0] += PAUSE_AFTER_FAILURE - 1
    runner.run()
    assert passes.count == 1  # the minute pass, with its back-off, carries on alone
    now[0] += 1
    passes.failing = False
    runner.run()
    assert passes.count == 2 and not runner.paused


def test_the_demo_worker_is_woken_by_a_committed_message(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_DELIVERY_PROMPT", True)
    state = app.extensions["storefront"]
    monkeypatch.setattr(state, "demo_worker", None, raising=False)
    monkeypatch.setattr(state, "wake_delivery", None, raising=False)
    user = make_user()
    thread = demo.start_background_worker(app, interval=3600)  # only a wake-up can start a second pass
    try:
        assert forgot(client, user.email).status_code == 302
        assert eventually(lambda: statuses() == ["sent"])  # the first pass, or the wake-up
        assert forgot(client, user.email).status_code == 302
        assert eventually(lambda: statuses() == ["sent", "sent"])  # the wake-up alone
    finally:
        thread.stop.set()
        thread.join(WAIT)
    assert not thread.is_alive() and getattr(state, "wake_delivery", None) is None

"""deliver_pending: claims, sends once, retries with backoff, gives up after 8 attempts;
drains a sale day's backlog in one pass, a batch per write (the SMTP backend against a
real server: test_smtp.py)."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.notify import delivery
from storefront.notify.backends import LogBackend, OutgoingMessage, SmtpBackend, get_backend
from storefront.notify.delivery import MAX_ATTEMPTS, deliver_pending, retry_delay
from storefront.notify.models import OutboxMessage
from tests.notify.helpers import add_outbox_messages


class Recorder:
    def __init__(self, delay: float = 0.0):
        self.sent: list[int] = []
        self.lock = threading.Lock()
        self.delay = delay

    def send(self, message: OutgoingMessage) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.sent.append(message.id)


class Failing:
    def __init__(self):
        self.calls = 0

    def send(self, message):
        self.calls += 1
        raise ConnectionRefusedError("mail server down")


def _row(message_id) -> OutboxMessage:
    db.session.rollback()
    return db.session.get(OutboxMessage, message_id)


def test_delivers_and_marks_sent(app):
    ids = add_outbox_messages(3)
    backend = Recorder()
    assert deliver_pending(backend=backend) == 3
    assert sorted(backend.sent) == ids
    row = _row(ids[0])
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
    assert deliver_pending(backend=backend) == 0  # nothing sent twice
    assert len(backend.sent) == 3


def test_limit(app):
    add_outbox_messages(5)
    backend = Recorder()
    assert deliver_pending(limit=2, backend=backend) == 2
    assert deliver_pending(limit=10, backend=backend) == 3


def test_not_yet_due_rows_wait(app):
    [message_id] = add_outbox_messages(1, next_attempt_at=utcnow() + timedelta(minutes=5))
    backend = Recorder()
    assert deliver_pending(backend=backend) == 0
    assert deliver_pending(backend=backend, now=utcnow() + timedelta(minutes=6)) == 1
    assert backend.sent == [message_id]


def test_failures_back_off_exponentially_then_give_up(app):
    [message_id] = add_outbox_messages(1)
    failing = Failing()
    now = utcnow()
    expected_delays = [1, 2, 4, 8, 16, 32, 64]
    for attempt, minutes in enumerate(expected_delays, start=1):
        assert deliver_pending(backend=failing, now=now) == 0
        row = _row(message_id)
        assert row.status == "pending" and row.attempts == attempt
        assert row.next_attempt_at == now + timedelta(minutes=minutes)
        assert "mail server down" in row.last_error
        # Not retried before it is due.
        assert deliver_pending(backend=failing, now=row.next_attempt_at - timedelta(seconds=1)) == 0
        assert failing.calls == attempt
        now = row.next_attempt_at
    deliver_pending(backend=failing, now=now)
    row = _row(message_id)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS == 8
    assert row.last_error.startswith("ConnectionRefusedError")
    assert deliver_pending(backend=failing, now=now + timedelta(days=1)) == 0
    assert failing.calls == 8


def test_a_retry_can_succeed(app):
    [message_id] = add_outbox_messages(1)
    deliver_pending(backend=Failing())
    backend = Recorder()
    assert deliver_pending(backend=backend, now=utcnow() + timedelta(minutes=2)) == 1
    row = _row(message_id)
    assert row.status == "sent" and row.attempts == 2


def test_rows_stuck_in_sending_are_retried_after_ten_minutes(app):
    claimed_at = utcnow()
    [message_id] = add_outbox_messages(1, status="sending", attempts=1, next_attempt_at=claimed_at + timedelta(minutes=10))
    backend = Recorder()
    assert deliver_pending(backend=backend, now=claimed_at + timedelta(minutes=9)) == 0
    assert deliver_pending(backend=backend, now=claimed_at + timedelta(minutes=11)) == 1
    assert backend.sent == [message_id]
    assert _row(message_id).attempts == 2


def test_retry_delays():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]


def test_concurrent_deliverers_send_each_message_once(app):
    ids = add_outbox_messages(200)
    backend = Recorder(delay=0.0005)
    barrier = threading.Barrier(3)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=120)
                counts.append(deliver_pending(backend=backend, batch=10))
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(backend.sent) == ids  # every message exactly once
    assert sum(counts) == 200
    db.session.rollback()
    statuses = set(db.session.execute(db.select(OutboxMessage.status)).scalars())
    assert statuses == {"sent"}


def test_get_backend_follows_configuration(app):
    assert isinstance(get_backend(app), LogBackend)
    app.config["STOREFRONT_MAIL_BACKEND"] = "smtp"
    try:
        assert isinstance(get_backend(app), SmtpBackend)
        recorder = Recorder()
        app.config["STOREFRONT_MAIL_BACKEND"] = recorder
        assert get_backend(app) is recorder
    finally:
        app.config["STOREFRONT_MAIL_BACKEND"] = "log"


def test_deliver_pending_uses_the_configured_backend(app):
    ids = add_outbox_messages(1)
    recorder = Recorder()
    app.config["STOREFRONT_MAIL_BACKEND"] = recorder
    try:
        assert deliver_pending() == 1
    finally:
        app.config["STOREFRONT_MAIL_BACKEND"] = "log"
    assert recorder.sent == ids


def test_log_backend_logs(app, caplog):
    add_outbox_messages(1)
    with caplog.at_level("INFO", logger="storefront.notify"):
        assert deliver_pending() == 1
    assert "b0@example.com" in caplog.text


def test_smtp_backend_sends_with_smtplib(app, monkeypatch):
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            sent.append(("connect", host, port))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            sent.append(("starttls",))

        def login(self, user, password):
            sent.append(("login", user, password))

        def send_message(self, mail):
            sent.append(("send", mail["To"], mail["Subject"], mail["From"], mail.get_content()))

    monkeypatch.setattr("storefront.notify.backends.smtplib.SMTP", FakeSMTP)
    app.config.update(STOREFRONT_SMTP_HOST="mail.example.com", STOREFRONT_SMTP_PORT=587,
                      STOREFRONT_SMTP_TLS=True, STOREFRONT_SMTP_USER="shop", STOREFRONT_SMTP_PASSWORD="pw")
    try:
        backend = SmtpBackend(app)
    finally:
        app.config.update(STOREFRONT_SMTP_HOST="localhost", STOREFRONT_SMTP_PORT=25, STOREFRONT_SMTP_TLS=False,
                          STOREFRONT_SMTP_USER=None, STOREFRONT_SMTP_PASSWORD=None)
    backend.send(OutgoingMessage(id=7, kind="order_paid", channel="email", to_address="li@example.com",
                                 subject="Paid 订单", body="Thanks 谢谢\n"))
    assert sent[0] == ("connect", "mail.example.com", 587)
    assert ("starttls",) in sent and ("login", "shop", "pw") in sent
    assert sent[-1][:4] == ("send", "li@example.com", "Paid 订单", "shop@example.com")
    assert "谢谢" in sent[-1][4]


@pytest.mark.parametrize("error", [OSError("refused"), RuntimeError("boom")])
def test_any_backend_error_becomes_a_retry(app, error):
    [message_id] = add_outbox_messages(1)

    class Broken:
        def send(self, message):
            raise error

    assert deliver_pending(backend=Broken()) == 0
    assert _row(message_id).status == "pending"


# A sale day's backlog -------------------------------------------------------

def test_one_pass_drains_a_sale_day_backlog(app):
    """A flash's paid orders queue hundreds of messages at once: one pass sends them all,
    not a hundred a minute."""
    ids = add_outbox_messages(260)
    backend = Recorder()
    assert deliver_pending(backend=backend) == 260
    assert backend.sent == ids  # oldest first
    db.session.rollback()
    assert set(db.session.execute(db.select(OutboxMessage.status)).scalars()) == {"sent"}


@pytest.fixture
def writes(monkeypatch) -> list[int]:
    """One entry per write transaction the delivery module opens."""
    opened: list[int] = []
    real = delivery.write_transaction

    def counting(*args, **kwargs):
        opened.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(delivery, "write_transaction", counting)
    return opened


def test_a_batch_is_claimed_in_one_write_and_recorded_in_few(app, monkeypatch, writes):
    """On SQLite every write transaction queues for the one write lock that buyers checking
    out need: a batch of messages takes a few, not two per message."""
    add_outbox_messages(120)
    monkeypatch.setattr(delivery, "RECORD_EVERY", 25)
    assert deliver_pending(backend=Recorder(), batch=50) == 120
    # Three batches (50, 50, 20): a claim each (the look that finds none left is a plain
    # read); the outcomes of 25 messages per record (2, 2 and 1).
    assert len(writes) == 3 + 5


def test_a_pass_with_nothing_due_takes_no_write_lock(app, writes):
    """The pass every minute on a quiet day, and the last look of every pass."""
    add_outbox_messages(2, next_attempt_at=utcnow() + timedelta(minutes=5))  # due later
    assert deliver_pending(backend=Recorder()) == 0
    assert writes == []


def test_messages_queued_during_a_pass_go_out_in_it(app):
    first = add_outbox_messages(3)

    class QueuesMore(Recorder):
        def send(self, message):
            super().send(message)
            if len(self.sent) == 1:  # a payment lands while the pass runs
                self.late = add_outbox_messages(2)

    backend = QueuesMore()
    assert deliver_pending(backend=backend, batch=2) == 5
    assert backend.sent == first + backend.late


def test_a_pass_stops_after_its_time_budget(app):
    ids = add_outbox_messages(12)
    backend = Recorder()
    # Out of time at once: one message (every pass gets somewhere), the rest of its batch handed back.
    assert deliver_pending(backend=backend, batch=5, max_seconds=0) == 1
    assert {(_row(i).status, _row(i).attempts) for i in ids[1:]} == {("pending", 0)}
    assert deliver_pending(backend=backend, batch=5) == 11  # the next pass goes on
    assert sorted(backend.sent) == ids and len(backend.sent) == 12


def test_a_backend_that_keeps_failing_pauses_the_pass(app):
    """A mail server that is down is tried three times, not once per queued message; the rows
    it did not reach are handed back, due at once, their attempt not counted."""
    ids = add_outbox_messages(20)
    failing = Failing()
    now = utcnow()
    assert deliver_pending(backend=failing, now=now) == 0
    assert failing.calls == delivery.GIVE_UP_AFTER == 3
    rows = [_row(i) for i in ids]
    tried, untried = rows[:3], rows[3:]
    for row in tried:
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.next_attempt_at == now + timedelta(minutes=1) and "mail server down" in row.last_error
    for row in untried:
        assert (row.status, row.attempts, row.last_error) == ("pending", 0, "")
        assert row.next_attempt_at <= now
    # The server is back: the next pass sends the untried rows now, the failed ones when due.
    backend = Recorder()
    assert deliver_pending(backend=backend, now=now) == 17
    assert deliver_pending(backend=backend, now=now + timedelta(minutes=1)) == 3
    assert sorted(backend.sent) == ids


def test_one_failure_among_successes_does_not_pause_the_pass(app):
    ids = add_outbox_messages(6)

    class FailsOne(Recorder):
        def send(self, message):
            if message.id == ids[1]:
                raise OSError("recipient refused")
            super().send(message)

    now = utcnow()
    assert deliver_pending(backend=FailsOne(), now=now, batch=4) == 5
    failed = _row(ids[1])
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("pending", 1, now + timedelta(minutes=1))
    assert {_row(i).status for i in ids if i != ids[1]} == {"sent"}


def test_a_killed_worker_resends_at_most_the_unrecorded_few(app):
    """A worker killed mid-pass has recorded all but its last few sends: only those go out
    again, once its claim runs out."""
    ids = add_outbox_messages(30)

    class Killed(BaseException):  # like SystemExit: not a send failure the pass would retry
        pass

    class DiesAfter(Recorder):
        def send(self, message):
            if len(self.sent) == 14:
                raise Killed
            super().send(message)

    first = DiesAfter()
    with pytest.raises(Killed):
        deliver_pending(backend=first)
    sent_rows = [i for i in ids if _row(i).status == "sent"]
    assert sent_rows == ids[:delivery.RECORD_EVERY]
    later = Recorder()
    assert deliver_pending(backend=later, now=utcnow() + delivery.SENDING_LEASE + timedelta(seconds=1)) == 20
    assert later.sent == ids[delivery.RECORD_EVERY:]  # 4 of them for the second time
    assert len(set(first.sent) & set(later.sent)) == 14 - delivery.RECORD_EVERY


# Retention ------------------------------------------------------------------

def test_the_core_sweep_deletes_finished_messages_after_ninety_days(app):
    from storefront.orders.sweeps import run_core_sweeps

    now = utcnow()
    old = now - delivery.RETENTION - timedelta(minutes=1)
    recent = now - delivery.RETENTION + timedelta(minutes=1)
    [sent_old] = add_outbox_messages(1, status="sent", next_attempt_at=old)
    [failed_old] = add_outbox_messages(1, status="failed", next_attempt_at=old)
    [sent_recent] = add_outbox_messages(1, status="sent", next_attempt_at=recent)
    # Never delivered: an old pending row (a long-down mail server) or one stuck in sending
    # still waits for its delivery, however old.
    [pending_old] = add_outbox_messages(1, status="pending", next_attempt_at=old)
    [sending_old] = add_outbox_messages(1, status="sending", next_attempt_at=old)
    assert run_core_sweeps(now)["notifications_purged"] == 2
    db.session.rollback()
    left = set(db.session.execute(db.select(OutboxMessage.id)).scalars())
    assert left == {sent_recent, pending_old, sending_old}
    assert sent_old not in left and failed_old not in left
    assert run_core_sweeps(now)["notifications_purged"] == 0


def test_purge_deletes_a_batch_per_write(app, monkeypatch, writes):
    monkeypatch.setattr(delivery, "PURGE_BATCH", 3)
    now = utcnow()
    add_outbox_messages(7, status="sent", next_attempt_at=now - delivery.RETENTION - timedelta(days=1))
    assert delivery.purge_delivered(now) == 7
    assert len(writes) == 3  # 3, 3 and 1
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count()).select_from(OutboxMessage)).scalar() == 0


def test_nothing_to_purge_takes_no_write_lock(app):
    from tests.perf.conftest import no_write_transaction

    add_outbox_messages(2, status="sent")
    with no_write_transaction():
        assert delivery.purge_delivered(utcnow()) == 0

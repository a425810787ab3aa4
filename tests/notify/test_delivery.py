"""deliver_pending: claims, sends once, retries with backoff, gives up after 8 attempts."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.notify.backends import LogBackend, OutgoingMessage, SmtpBackend, get_backend
from storefront.notify.models import OutboxMessage
from storefront.notify.services import MAX_ATTEMPTS, deliver_pending, retry_delay


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


def _add(n=1, **values) -> list[int]:
    rows = [OutboxMessage(kind="order_paid", to_address=f"b{i}@example.com", subject=f"s{i}", body="b",
                          **values) for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def _row(message_id) -> OutboxMessage:
    db.session.rollback()
    return db.session.get(OutboxMessage, message_id)


def test_delivers_and_marks_sent(app):
    ids = _add(3)
    backend = Recorder()
    assert deliver_pending(backend=backend) == 3
    assert sorted(backend.sent) == ids
    row = _row(ids[0])
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
    assert deliver_pending(backend=backend) == 0  # nothing sent twice
    assert len(backend.sent) == 3


def test_limit(app):
    _add(5)
    backend = Recorder()
    assert deliver_pending(limit=2, backend=backend) == 2
    assert deliver_pending(limit=10, backend=backend) == 3


def test_not_yet_due_rows_wait(app):
    [message_id] = _add(1, next_attempt_at=utcnow() + timedelta(minutes=5))
    backend = Recorder()
    assert deliver_pending(backend=backend) == 0
    assert deliver_pending(backend=backend, now=utcnow() + timedelta(minutes=6)) == 1
    assert backend.sent == [message_id]


def test_failures_back_off_exponentially_then_give_up(app):
    [message_id] = _add(1)
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
    [message_id] = _add(1)
    deliver_pending(backend=Failing())
    backend = Recorder()
    assert deliver_pending(backend=backend, now=utcnow() + timedelta(minutes=2)) == 1
    row = _row(message_id)
    assert row.status == "sent" and row.attempts == 2


def test_rows_stuck_in_sending_are_retried_after_ten_minutes(app):
    claimed_at = utcnow()
    [message_id] = _add(1, status="sending", attempts=1, next_attempt_at=claimed_at + timedelta(minutes=10))
    backend = Recorder()
    assert deliver_pending(backend=backend, now=claimed_at + timedelta(minutes=9)) == 0
    assert deliver_pending(backend=backend, now=claimed_at + timedelta(minutes=11)) == 1
    assert backend.sent == [message_id]
    assert _row(message_id).attempts == 2


def test_retry_delays():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]


def test_two_concurrent_deliverers_send_each_message_once(app):
    ids = _add(40)
    backend = Recorder(delay=0.002)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=120)
                counts.append(deliver_pending(backend=backend))
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(backend.sent) == ids  # every message exactly once
    assert sum(counts) == 40
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
    ids = _add(1)
    recorder = Recorder()
    app.config["STOREFRONT_MAIL_BACKEND"] = recorder
    try:
        assert deliver_pending() == 1
    finally:
        app.config["STOREFRONT_MAIL_BACKEND"] = "log"
    assert recorder.sent == ids


def test_log_backend_logs(app, caplog):
    _add(1)
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
    [message_id] = _add(1)

    class Broken:
        def send(self, message):
            raise error

    assert deliver_pending(backend=Broken()) == 0
    assert _row(message_id).status == "pending"

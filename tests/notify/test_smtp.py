"""The SMTP backend against a real SMTP server on 127.0.0.1 (aiosmtpd): a delivery pass
sends its messages over one connection, and a failure never loses the others."""
from __future__ import annotations

import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from storefront.extensions import db
from storefront.notify.backends import OutgoingMessage, SmtpBackend
from storefront.notify.models import OutboxMessage
from storefront.notify.delivery import deliver_pending


class Mailbox:
    """Keeps what arrived and on which connection (aiosmtpd gives each its own session).

    ``hang_up_after``: the server closes a connection once it has taken that many
    messages on it, as mail providers do with long-lived connections.
    """

    def __init__(self, refuse: frozenset[str] = frozenset()):
        self.lock = threading.Lock()
        self.received: list[tuple[int, str, str]] = []  # (connection number, to, body)
        self.sessions: list = []  # held, so that no two connections could share an id()
        self.refuse = refuse
        self.hang_up_after: int | None = None

    def _connection(self, session) -> int:
        for number, seen in enumerate(self.sessions):
            if seen is session:
                return number
        self.sessions.append(session)
        return len(self.sessions) - 1

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        body = envelope.content.decode("utf-8", "replace")
        with self.lock:
            number = self._connection(session)
            self.received.extend((number, to, body) for to in envelope.rcpt_tos)
            taken = sum(1 for n, _to, _body in self.received if n == number)
        if self.hang_up_after is not None and taken >= self.hang_up_after:
            server.loop.call_soon(server.transport.close)  # after this answer is written
        return "250 Message accepted for delivery"

    @property
    def connections(self) -> int:
        """Connections that delivered at least one message."""
        return len({number for number, _to, _body in self.received})


def _accept_shop(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"shop" and auth_data.password == b"secret"
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def _free_port() -> int:
    # aiosmtpd's Controller checks it is up by connecting to its port, so it needs a real one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mailbox(app):
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=_accept_shop,
                            auth_require_tls=False)
    controller.start()
    app.config.update(STOREFRONT_MAIL_BACKEND="smtp", STOREFRONT_SMTP_HOST="127.0.0.1",
                      STOREFRONT_SMTP_PORT=port,
                      STOREFRONT_SMTP_USER="shop", STOREFRONT_SMTP_PASSWORD="secret",
                      STOREFRONT_MAIL_FROM="shop@example.com")
    try:
        yield box
    finally:
        controller.stop()
        app.config.update(STOREFRONT_MAIL_BACKEND="log", STOREFRONT_SMTP_HOST="localhost", STOREFRONT_SMTP_PORT=25,
                          STOREFRONT_SMTP_USER=None, STOREFRONT_SMTP_PASSWORD=None, STOREFRONT_MAIL_FROM=None)


def _queue(n: int) -> list[int]:
    rows = [OutboxMessage(kind="order_paid", to_address=f"buyer{i}@example.com", subject=f"Order {i} paid 已付款",
                          body=f"Thanks for order {i}. Cảm ơn bạn.") for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _statuses(ids) -> dict[int, str]:
    db.session.rollback()
    return dict(db.session.execute(db.select(OutboxMessage.id, OutboxMessage.status)
                                   .where(OutboxMessage.id.in_(ids))).all())


def test_a_pass_delivers_every_message_over_one_connection(app, mailbox):
    ids = _queue(60)
    assert deliver_pending(batch=25) == 60
    assert sorted(to for _s, to, _b in mailbox.received) == sorted(f"buyer{i}@example.com" for i in range(60))
    assert mailbox.connections == 1
    assert set(_statuses(ids).values()) == {"sent"}
    assert any("Cảm ơn" in body for _s, _to, body in mailbox.received)


def test_a_refused_recipient_is_retried_later_and_the_rest_are_delivered(app, mailbox):
    ids = _queue(5)
    mailbox.refuse = frozenset({"buyer2@example.com"})
    assert deliver_pending() == 4
    statuses = _statuses(ids)
    assert statuses.pop(ids[2]) == "pending"
    assert set(statuses.values()) == {"sent"}
    # The connection that saw the refusal is not reused.
    assert mailbox.connections == 2


def test_wrong_credentials_deliver_nothing_and_lose_nothing(app, mailbox):
    ids = _queue(10)
    app.config["STOREFRONT_SMTP_PASSWORD"] = "wrong"
    assert deliver_pending() == 0
    assert mailbox.received == []
    assert set(_statuses(ids).values()) == {"pending"}


def test_a_kept_connection_the_server_closed_is_reopened_for_the_same_message(app, mailbox):
    ids = _queue(5)
    mailbox.hang_up_after = 2
    assert deliver_pending() == 5
    assert set(_statuses(ids).values()) == {"sent"}
    db.session.rollback()
    # No attempt was lost to the hang-ups: each message was claimed once.
    assert set(db.session.execute(db.select(OutboxMessage.attempts).where(OutboxMessage.id.in_(ids))).scalars()) == {1}
    assert mailbox.connections == 3  # 2 + 2 + 1
    assert len(mailbox.received) == 5


def test_a_single_send_outside_a_pass_connects_for_that_message(app, mailbox):
    backend = SmtpBackend(app)
    for n in (1, 2):
        backend.send(OutgoingMessage(id=n, kind="order_paid", channel="email", to_address=f"li{n}@example.com",
                                     subject="s", body="b\n"))
    assert mailbox.connections == 2

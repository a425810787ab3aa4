"""Delivery backends for the outbox: log (default) and SMTP.

A backend has one method, ``send(message)``, which raises on failure; the
outbox worker turns exceptions into retries. A backend that holds a
connection may also have ``open()`` and ``close()``: the worker calls them
around a delivery pass, as Django's mail backends are used. ``message`` is an
:class:`OutgoingMessage` snapshot, never a database row, because sending
happens outside any transaction.
"""
from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from flask import Flask, current_app
from werkzeug.utils import import_string

log = logging.getLogger("storefront.notify")


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    kind: str
    channel: str
    to_address: str
    subject: str
    body: str


class LogBackend:
    """Writes messages to the log: the default, so a fresh shop never tries to reach a mail server."""

    def __init__(self, app: Flask | None = None) -> None:
        self.app = app

    def send(self, message: OutgoingMessage) -> None:
        log.info("notification #%s (%s) to %s: %s\n%s", message.id, message.kind,
                 message.to_address, message.subject, message.body)


class SmtpBackend:
    """Sends e-mail with :mod:`smtplib` using the ``STOREFRONT_SMTP_*`` settings."""

    def __init__(self, app: Flask) -> None:
        config = app.config
        self.host = config.get("STOREFRONT_SMTP_HOST") or "localhost"
        self.port = int(config.get("STOREFRONT_SMTP_PORT") or 25)
        self.user = config.get("STOREFRONT_SMTP_USER")
        self.password = config.get("STOREFRONT_SMTP_PASSWORD")
        self.tls = bool(config.get("STOREFRONT_SMTP_TLS"))
        self.sender = config.get("STOREFRONT_MAIL_FROM") or "shop@example.com"
        self.timeout = int(config.get("STOREFRONT_SMTP_TIMEOUT") or 30)
        self._reuse = False
        self._smtp: smtplib.SMTP | None = None

    def build(self, message: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to_address
        mail["Subject"] = message.subject
        # A stable id lets a receiving server drop the duplicate a crash-retry may produce.
        domain = self.sender.rpartition("@")[2] or "storefront"
        mail["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain=domain)
        mail.set_content(message.body)
        return mail

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.tls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def open(self) -> None:
        """Keep one connection for the messages sent until :meth:`close`.

        A delivery pass sends its whole batch over it: connecting, STARTTLS
        and logging in per message would cost a mail provider's round trips
        (and often its rate limit) a hundred times over after a sale.
        """
        self._reuse = True

    def close(self) -> None:
        self._reuse = False
        self._drop(polite=True)

    def _drop(self, *, polite: bool = False) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if not polite:
            smtp.close()
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(self, message: OutgoingMessage) -> None:
        mail = self.build(message)
        if not self._reuse:
            with self._connect() as smtp:
                smtp.send_message(mail)
            return
        if self._smtp is not None:
            try:
                self._smtp.send_message(mail)
                return
            except smtplib.SMTPServerDisconnected:
                self._drop()  # the server closed the kept connection: one try on a fresh one
            except BaseException:
                # Its state is unknown after a failure (a refused recipient included):
                # the next message starts on a fresh connection.
                self._drop()
                raise
        self._smtp = self._connect()
        try:
            self._smtp.send_message(mail)
        except BaseException:
            self._drop()
            raise


BACKENDS = {"log": LogBackend, "smtp": SmtpBackend}


def get_backend(app: Flask | None = None):
    """The backend named by ``STOREFRONT_MAIL_BACKEND``: "log", "smtp", a dotted
    import path of a class taking the app, or an object with ``send``."""
    app = app or current_app._get_current_object()
    choice = app.config.get("STOREFRONT_MAIL_BACKEND") or "log"
    if hasattr(choice, "send"):
        return choice
    if choice in BACKENDS:
        return BACKENDS[choice](app)
    return import_string(str(choice))(app)

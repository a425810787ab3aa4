"""Delivery backends for the outbox: log (default) and SMTP.

A backend has one method, ``send(message)``, which raises on failure; the
outbox worker turns exceptions into retries. ``message`` is an
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

    def send(self, message: OutgoingMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.tls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(self.build(message))


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

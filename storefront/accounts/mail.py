"""Account e-mails (reset links, registration links, "password changed").

They go through the notification outbox like order mails: written in the
caller's transaction, delivered by the worker with retries. Each kind is
rendered from ``templates/notify/<kind>.txt`` (blocks ``subject`` and
``body``) in the recipient's language: the account's chosen language, else
the language of the request that caused the mail.

Mails carrying a sign-in capability (reset and confirmation links) are
e-mail only: a copy in the message centre would hand the link to anyone
holding a session of the account.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import force_locale

from ..clock import utcnow
from ..extensions import db
from ..i18n import select_locale
from ..notify.models import InboxMessage, OutboxMessage
from ..notify.prompt import request_prompt_delivery
from ..settings import all_settings

#: Account mail kinds, each with a template ``notify/<kind>.txt``.
ACCOUNT_KINDS = (
    "account_password_reset",          # a reset link for a known address
    "account_password_reset_unknown",  # a reset was asked for an address with no account
    "account_register_confirm",        # a link that finishes creating the account
    "account_register_exists",         # a registration for an address that has an account
    "account_password_changed",        # the password was reset
)


def mail_locale(user=None) -> str:
    chosen = getattr(user, "locale", None)
    if chosen in current_app.config["STOREFRONT_LOCALES"]:
        return chosen
    return select_locale()


def render_account_mail(kind: str, **context) -> tuple[str, str]:
    """Subject and plain-text body of ``kind`` in the current locale."""
    template = current_app.jinja_env.get_template(f"notify/{kind}.txt")
    ctx = template.new_context({"shop": all_settings(), **context})
    subject = " ".join("".join(template.blocks["subject"](ctx)).split())
    body = "".join(template.blocks["body"](ctx)).strip() + "\n"
    return subject, body


def queue_account_mail(kind: str, to_address: str, *, user=None, inbox: bool = False, **context) -> None:
    """Add an account mail to the current transaction (the caller commits)."""
    if kind not in ACCOUNT_KINDS:
        raise ValueError(f"unknown account mail kind {kind!r}")
    locale = mail_locale(user)
    with force_locale(locale):
        subject, body = render_account_mail(kind, user=user, email=to_address, **context)
    link = context.get("link")
    if link and current_app.debug:
        # Development without a mail server or worker: show the link at once.
        # Never outside debug mode, the link is as good as a password.
        current_app.logger.info("%s for %s: %s", kind, to_address, link)
    now = utcnow()
    db.session.add(OutboxMessage(
        kind=kind, channel="email", user_id=getattr(user, "id", None), order_id=None,
        to_address=to_address, subject=subject[:200], body=body, status="pending",
        attempts=0, next_attempt_at=now, last_error="", data={"locale": locale},
    ))
    request_prompt_delivery()  # the buyer is waiting for this link
    if inbox and user is not None:
        db.session.add(InboxMessage(user_id=user.id, order_id=None, kind=kind,
                                    subject=subject[:200], body=body, created_at=now))

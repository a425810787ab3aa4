"""Notifications: written to the outbox in the caller's transaction, delivered by the worker.

Writing the message in the same transaction as the change it reports means
a paid order always has its "paid" e-mail and a rolled-back one never does.
Delivery happens later, outside any transaction, with retries
(:mod:`storefront.notify.delivery`): seconds later, as the commit asks the
worker for a pass (:mod:`storefront.notify.prompt`), or at the pass every minute.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..checkout.pricing import order_breakdown
from ..clock import utcnow
from ..extensions import db
from ..orders.status import CANCEL_REASON_LABELS, STATUS_LABELS
from ..plugins.host import flatten, get_host
from ..settings import all_settings
from .delivery import PENDING
from .models import InboxMessage, OutboxMessage
from .prompt import request_prompt_delivery

#: Notification kinds, each rendered from ``templates/notify/<kind>.txt``.
KINDS = ("order_paid", "order_shipped", "order_closed", "order_payment_reminder")


def queue_order_notification(order, kind: str) -> None:
    """Add the buyer's notification for ``order`` (kind: "order_paid", "order_shipped",
    "order_closed"...) to the current transaction: one outbox row (e-mail) and one
    message-centre row. The caller commits. No-op for orders without a buyer/contact.
    """
    add_prepared_message(prepare_order_notification(order, kind))


def prepare_order_notification(order, kind: str, *, showing: dict | None = None) -> PreparedMessage | None:
    """:func:`queue_order_notification`'s message, rendered now and added later by
    :func:`add_prepared_message` (``order`` as the buyer should read it).

    ``showing``: column values the order will hold once the caller's transaction
    has written them (a payment, a shipment, rendered before the write lock). The
    message shows them; afterwards the order holds the values it was read with.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    with _showing(order, showing or {}):
        return prepare_order_message(order, kind, lambda: render_notification(order, kind))


@contextmanager
def _showing(order, changes: dict):
    # Committed values: nothing is flushed or marked changed, and the order as read comes back.
    read = {key: getattr(order, key) for key in changes}
    for key, value in changes.items():
        set_committed_value(order, key, value)
    try:
        yield order
    finally:
        for key, value in read.items():
            set_committed_value(order, key, value)


def queue_order_message(order, kind: str, render: Callable[[], tuple[str, str]]) -> None:
    """Queue a buyer message about ``order`` whose text a plugin writes.

    ``render()`` returns ``(subject, body)`` and is called in the buyer's
    locale, so its gettext calls speak the buyer's language. ``kind`` names
    the message (``<plugin>_<what>``, e.g. ``presale_balance_open``). Same
    delivery as the core notifications: one outbox row (e-mail) and one
    message-centre row, in the caller's transaction.
    """
    add_prepared_message(prepare_order_message(order, kind, render))


@dataclass(frozen=True)
class PreparedMessage:
    """A buyer message rendered ahead of the transaction that adds it (see :func:`prepare_order_message`)."""

    kind: str
    order_id: int
    order_number: str
    user_id: int | None
    to_address: str
    locale: str
    subject: str
    body: str


def prepare_order_message(order, kind: str, render: Callable[[], tuple[str, str]]) -> PreparedMessage | None:
    """Render a buyer message about ``order`` without writing it; ``None`` when it has nobody to go to.

    For a writer that renders before it takes the write lock, which every
    other writer waits for, then adds the rows with :func:`add_prepared_message`
    inside its transaction.
    """
    user = order.user if order.user_id else None
    to_address = (user.email if user is not None else "") or order.contact_email or ""
    if user is None and not to_address:
        return None
    locale = buyer_locale(user)
    with force_locale(locale):
        subject, body = render()
    return PreparedMessage(kind=kind, order_id=order.id, order_number=order.number,
                           user_id=user.id if user is not None else None, to_address=to_address,
                           locale=locale, subject=subject[:200], body=body)


def add_prepared_message(message: PreparedMessage | None) -> None:
    """Add a prepared message's outbox row (e-mail) and message-centre row to the current transaction."""
    if message is None:
        return
    now = utcnow()
    # Core INSERTs, built once, on the session's connection: nothing in the transaction uses
    # the rows as objects, and a payment adds them while holding the write lock every other
    # writer waits for.
    connection = db.session.connection()
    if message.to_address:
        connection.execute(_OUTBOX_INSERT, dict(
            kind=message.kind, channel="email", user_id=message.user_id, order_id=message.order_id,
            to_address=message.to_address, subject=message.subject, body=message.body, status=PENDING,
            attempts=0, next_attempt_at=now, sent_at=None, last_error="", created_at=now,
            data={"locale": message.locale, "order_number": message.order_number},
        ))
        request_prompt_delivery()
    if message.user_id is not None:
        connection.execute(_INBOX_INSERT, dict(
            user_id=message.user_id, order_id=message.order_id, kind=message.kind,
            subject=message.subject, body=message.body, created_at=now, read_at=None))


_OUTBOX_INSERT = insert(OutboxMessage.__table__)
_INBOX_INSERT = insert(InboxMessage.__table__)


def buyer_locale(user) -> str:
    supported = current_app.config["STOREFRONT_LOCALES"]
    chosen = getattr(user, "locale", None)
    return chosen if chosen in supported else current_app.config["STOREFRONT_DEFAULT_LOCALE"]


def render_notification(order, kind: str) -> tuple[str, str]:
    """Subject and plain-text body of ``kind`` for ``order`` in the current locale."""
    template = current_app.jinja_env.get_template(f"notify/{kind}.txt")
    context = template.new_context({
        "order": order,
        "breakdown": order_breakdown(order),
        "shop": all_settings(),
        "status_label": STATUS_LABELS.get(order.status, order.status),
        "close_reason_label": CANCEL_REASON_LABELS.get(order.close_reason, order.close_reason or ""),
        "plugin_lines": [str(line) for line in flatten(get_host().call_safely("notification_lines",
                                                                             order=order, kind=kind))],
    })
    subject = " ".join("".join(template.blocks["subject"](context)).split())
    body = "".join(template.blocks["body"](context)).strip() + "\n"
    return subject, body


# Message centre -----------------------------------------------------------

def inbox_page(user, *, after: int | None = None, limit: int = 20) -> tuple[list[InboxMessage], int | None]:
    """The user's messages, newest first, keyset-paginated by id (``after`` = last id seen).

    Returns the page and the ``after`` value of the next page (or ``None``).
    """
    query = select(InboxMessage).where(InboxMessage.user_id == user.id)
    if after:
        query = query.where(InboxMessage.id < after)
    rows = db.session.execute(query.order_by(InboxMessage.id.desc()).limit(limit + 1)).scalars().all()
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return list(rows[:limit]), next_after


def unread_count(user) -> int:
    return db.session.execute(
        select(func.count()).select_from(InboxMessage)
        .where(InboxMessage.user_id == user.id, InboxMessage.read_at.is_(None))
    ).scalar_one()


def mark_read(user, message_ids: list[int] | None = None) -> int:
    """Mark the user's messages read (all when ``message_ids`` is None), in the
    caller's transaction. Other users' ids are ignored. Returns rows changed."""
    query = update(InboxMessage).where(InboxMessage.user_id == user.id, InboxMessage.read_at.is_(None))
    if message_ids is not None:
        query = query.where(InboxMessage.id.in_([int(i) for i in message_ids]))
    result = db.session.execute(query.values(read_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount


__all__ = ["KINDS", "queue_order_notification", "render_notification", "inbox_page", "unread_count",
           "mark_read"]

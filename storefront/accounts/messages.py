"""The buyer's message centre: reading never writes; marking read is a POST."""
from __future__ import annotations

from ..database import write_transaction
from .models import User

PAGE_SIZE = 20


def messages_page(user: User, *, after: int | None = None, limit: int = PAGE_SIZE):
    """``(messages newest first, after-id of the next page or None)`` for ``user`` only."""
    from ..notify.services import inbox_page

    return inbox_page(user, after=after, limit=limit)


def order_numbers(user: User, messages) -> dict[int, str]:
    """``{order_id: order number}`` for the user's own orders named by ``messages`` (one query)."""
    from sqlalchemy import select

    from ..extensions import db
    from ..orders.models import Order

    ids = {m.order_id for m in messages if m.order_id}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Order.id, Order.number).where(Order.id.in_(ids), Order.user_id == user.id)
    ).all()
    return {order_id: number for order_id, number in rows}


def unread_messages(user: User) -> int:
    from ..notify.services import unread_count

    return unread_count(user)


def mark_messages_read(user: User, message_ids: list[int] | None = None) -> int:
    """Mark some (or, with ``None``, all) of the user's messages read.

    Ids of other users' messages are ignored by the ``user_id`` condition.
    """
    from ..notify.services import mark_read

    with write_transaction():
        return mark_read(user, message_ids)

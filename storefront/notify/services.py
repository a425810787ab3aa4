"""Notifications: written to the outbox in the caller's transaction, delivered by the worker."""
from __future__ import annotations


def queue_order_notification(order, kind: str) -> None:
    """Add the buyer's notification for ``order`` (kind: "order_paid", "order_shipped",
    "order_closed"...) to the current transaction: one outbox row (e-mail) and one
    message-centre row. The caller commits. No-op for orders without a buyer/contact.
    """


def deliver_pending(limit: int = 100) -> int:
    """Deliver due outbox rows with retries; returns how many were sent."""
    return 0

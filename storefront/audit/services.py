"""Record staff actions in the append-only audit log."""
from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from ..extensions import db
from ..orders.transitions import Actor
from .models import AuditEntry


def record(actor, action: str, obj: Any = None, *, before: dict | None = None,
           after: dict | None = None, object_type: str = "", object_id: str = "") -> AuditEntry:
    """Add an audit row to the current transaction (committed with the change).

    ``actor``: the user, or their :class:`~storefront.orders.transitions.Actor`."""
    if obj is not None:
        object_type = object_type or type(obj).__name__.lower()
        object_id = object_id or str(getattr(obj, "id", ""))
    if isinstance(actor, Actor):
        # Taken before the write lock: a staff member's row, expired by the commit that
        # opened the transaction, would otherwise be read again while holding it.
        actor_id, actor_label = actor.user_id, actor.label
    else:
        actor_id, actor_label = getattr(actor, "id", None), getattr(actor, "email", "")
    entry = AuditEntry(
        actor_id=actor_id,
        actor_label=actor_label or "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        ip=(request.remote_addr or "") if has_request_context() else "",
    )
    db.session.add(entry)
    return entry

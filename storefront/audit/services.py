"""Record staff actions in the append-only audit log."""
from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from ..extensions import db
from .models import AuditEntry


def record(actor, action: str, obj: Any = None, *, before: dict | None = None,
           after: dict | None = None, object_type: str = "", object_id: str = "") -> AuditEntry:
    """Add an audit row to the current transaction (committed with the change)."""
    if obj is not None:
        object_type = object_type or type(obj).__name__.lower()
        object_id = object_id or str(getattr(obj, "id", ""))
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "email", "") or "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        ip=(request.remote_addr or "") if has_request_context() else "",
    )
    db.session.add(entry)
    return entry

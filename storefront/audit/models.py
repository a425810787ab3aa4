from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import BigIntPK, JSONType, UTCDateTime, utcnow


class AuditEntry(db.Model):
    """Append-only record of staff actions: who, when, what, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        # The audit page filters by action or actor and pages by id (newest first).
        Index("ix_audit_log_action_id", "action", "id"),
        Index("ix_audit_log_actor_label_id", "actor_label", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(40), default="")
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    ip: Mapped[str] = mapped_column(String(64), default="")


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit entry through the ORM."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_rewrite(_mapper, _connection, target: AuditEntry) -> None:
    # The log is evidence: a bug (or a compromised staff session driving some
    # code path) must not be able to edit history through the models.
    raise AuditLogIsAppendOnly(f"audit entry {target.id} cannot be changed or deleted")

"""Tables of the after-sales plugin (all prefixed ``aftersales_``).

A case is one buyer request about one order (refund only, return and refund,
or exchange). Its status changes only through ``cases.py`` with a conditional
``UPDATE ... WHERE status IN (...)``, so two staff members (or a sweep and a
person) never both act on the same state. Times are naive UTC; money is in
integer minor units of ``currency``.
"""
from __future__ import annotations

from sqlalchemy import (Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.models_base import BigIntPK, JSONType, UTCDateTime, utcnow

# Kinds
REFUND_UNSHIPPED = "refund_unshipped"
REFUND_SHIPPED = "refund_shipped"
RETURN_REFUND = "return_refund"
EXCHANGE = "exchange"
KINDS = (REFUND_UNSHIPPED, REFUND_SHIPPED, RETURN_REFUND, EXCHANGE)
#: Kinds where the goods travel back to the shop.
RETURN_KINDS = (RETURN_REFUND, EXCHANGE)

# Statuses
REQUESTED = "requested"
APPROVED = "approved"  # refund-only approved, refund pending
AWAITING_RETURN = "awaiting_return"  # return approved, buyer to ship
RETURNING = "returning"  # buyer entered tracking
ARRIVED = "arrived"  # the parcel is at the shop, not inspected yet
INSPECTED = "inspected"  # inspected (restock or not), refund pending
REFUNDED = "refunded"
RESHIPPED = "reshipped"
REJECTED = "rejected"
CANCELLED = "cancelled"
CLOSED = "closed"
STATUSES = (REQUESTED, APPROVED, AWAITING_RETURN, RETURNING, ARRIVED, INSPECTED, REFUNDED, RESHIPPED,
            REJECTED, CANCELLED, CLOSED)
TERMINAL_STATUSES = (REFUNDED, RESHIPPED, REJECTED, CANCELLED, CLOSED)
OPEN_STATUSES = tuple(s for s in STATUSES if s not in TERMINAL_STATUSES)

# Reasons
REASONS = ("quality", "not_as_described", "wrong_item", "missing_item", "damaged", "not_received",
           "late_shipment", "out_of_stock", "price_difference", "changed_mind")

# Queue categories
CATEGORIES = ("back_office", "tracking", "difficult", "complaint")

# Escalation decisions: "buyer" = decided for the buyer, i.e. against the seller.
DECISION_BUYER, DECISION_SELLER = "buyer", "seller"

INSPECTION_RESULTS = ("restock", "no_restock")

# How a refund is paid: back through the original payment, or as store credit.
REFUND_ORIGINAL, REFUND_CREDIT = "original", "credit"
REFUND_METHODS = (REFUND_ORIGINAL, REFUND_CREDIT)

ACTOR_KINDS = ("buyer", "staff", "system")

#: The open statuses as SQL text, for the partial index the queue's default view reads.
OPEN_SQL = "status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"


class Case(db.Model):
    __tablename__ = "aftersales_cases"
    __table_args__ = (
        # The staff queue filters and the sweeps' deadlines.
        Index("ix_aftersales_cases_status_created_at", "status", "created_at"),
        Index("ix_aftersales_cases_status_return_deadline", "status", "return_deadline"),
        Index("ix_aftersales_cases_status_first_response_at", "status", "first_response_at"),
        Index("ix_aftersales_cases_category_status", "category", "status"),
        Index("ix_aftersales_cases_assignee_status", "assignee_id", "status"),
        Index("ix_aftersales_cases_escalated_status", "escalated", "status"),
        Index("ix_aftersales_cases_user_id_id", "user_id", "id"),
        Index("ix_aftersales_cases_order_id_status", "order_id", "status"),
        # The queue's keyset order (oldest first) and its kind / reason filters.
        Index("ix_aftersales_cases_created_at_id", "created_at", "id"),
        # Open cases oldest first without walking past every ended one (they are nearly all of them).
        Index("ix_aftersales_cases_open_created_at_id", "created_at", "id",
              postgresql_where=text(OPEN_SQL), sqlite_where=text(OPEN_SQL)),
        Index("ix_aftersales_cases_kind_status", "kind", "status"),
        Index("ix_aftersales_cases_reason_status", "reason", "status"),
        # Metrics read completed cases by completion day.
        Index("ix_aftersales_cases_completed_at", "completed_at"),
        Index("ix_aftersales_cases_refunded_at", "refunded_at"),
        CheckConstraint("amount_requested >= 0", name="amount_requested_not_negative"),
        CheckConstraint("amount_refunded >= 0", name="amount_refunded_not_negative"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(24), default=REQUESTED)
    reason: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    amount_requested: Mapped[int] = mapped_column(Integer, default=0)
    amount_refunded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str] = mapped_column(String(16), default="back_office")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_decision: Mapped[str | None] = mapped_column(String(8))
    auto_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    return_address: Mapped[str | None] = mapped_column(String(400))
    return_carrier: Mapped[str | None] = mapped_column(String(40))
    return_tracking: Mapped[str | None] = mapped_column(String(64))
    return_deadline = mapped_column(UTCDateTime)
    inspection_result: Mapped[str | None] = mapped_column(String(16))
    #: ``original`` (the payment provider) or ``credit`` (the buyer's store credit), set when refunded.
    refund_method: Mapped[str | None] = mapped_column(String(16))
    created_at = mapped_column(UTCDateTime, default=utcnow, index=True)
    first_response_at = mapped_column(UTCDateTime)
    approved_at = mapped_column(UTCDateTime)
    buyer_shipped_at = mapped_column(UTCDateTime)
    # The return's five segments (DOMAIN.md §7) end at approved_at, buyer_shipped_at,
    # arrived_at (parcel at the shop), inspected_at and refunded_at.
    arrived_at = mapped_column(UTCDateTime)
    inspected_at = mapped_column(UTCDateTime)
    refunded_at = mapped_column(UTCDateTime)
    completed_at = mapped_column(UTCDateTime)
    closed_at = mapped_column(UTCDateTime)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    order = relationship("Order")
    user = relationship("User", foreign_keys=[user_id])
    assignee = relationship("User", foreign_keys=[assignee_id])
    lines: Mapped[list["CaseLine"]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseLine.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_return(self) -> bool:
        return self.kind in RETURN_KINDS


class CaseLine(db.Model):
    """Which order lines (and how many of each) a case is about, and the amount asked for them."""

    __tablename__ = "aftersales_case_lines"
    __table_args__ = (
        UniqueConstraint("case_id", "order_line_id", name="uq_aftersales_case_lines_case_line"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_cases.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)

    case: Mapped[Case] = relationship(back_populates="lines")
    order_line = relationship("OrderLine")


class CaseEvent(db.Model):
    """The case's own timeline: every state change and notable fact, with its actor."""

    __tablename__ = "aftersales_events"
    __table_args__ = (Index("ix_aftersales_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_cases.id", ondelete="CASCADE"), index=True)
    at = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(16))  # buyer | staff | system
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSONType, default=dict)


class CaseMessage(db.Model):
    __tablename__ = "aftersales_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, default=utcnow)


class Evidence(db.Model):
    """An uploaded photo, re-encoded; the file lives under ``instance_path/aftersales_evidence/``."""

    __tablename__ = "aftersales_evidence"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_cases.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at = mapped_column(UTCDateTime, default=utcnow)


# The money side's tables live in their own module; importing them here puts
# them in the plugin's metadata and its Alembic branch.
from .money_models import *  # noqa: E402,F401,F403

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import BigIntPK, JSONType, UTCDateTime, enum_values, utcnow


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Payment(db.Model):
    """One payment for one checkout; it may cover several orders (a split cart).

    ``idempotency_key`` makes a duplicate checkout submission return the
    first one's orders; ``provider_ref`` makes provider callbacks idempotent.
    """

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    provider_ref: Mapped[str | None] = mapped_column(String(120), unique=True)
    status: Mapped[PaymentStatus] = mapped_column(
        Enum(PaymentStatus, native_enum=False, length=16, values_callable=enum_values), default=PaymentStatus.PENDING
    )
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    created_at = mapped_column(UTCDateTime, default=utcnow)
    paid_at = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)

    #: Every order this payment pays towards (the checkout's orders, or the one
    #: order of a balance payment), through ``order_payments``.
    orders = relationship("Order", secondary="order_payments", viewonly=True, order_by="Order.id")


class OrderPayment(db.Model):
    """What one payment pays towards one order.

    A checkout writes one row per order (its due, see the ``payment_due``
    hook); a later payment of one order (a presale balance) writes one more.
    ``refunded`` grows by conditional UPDATE and never passes ``amount``, so
    refunds go back through the payment that took the money, never more.
    """

    __tablename__ = "order_payments"
    __table_args__ = (
        UniqueConstraint("order_id", "payment_id", name="uq_order_payments_order_payment"),
        Index("ix_order_payments_payment_id", "payment_id"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_within_amount"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer)
    refunded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at = mapped_column(UTCDateTime, default=utcnow)

    payment = relationship("Payment")


class Refund(db.Model):
    """Money sent back through the provider; idempotent by ``idempotency_key``."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # The caller's key (up to 80); a refund spread over several payments adds "#2", "#3"...
    idempotency_key: Mapped[str] = mapped_column(String(90), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200), default="")
    provider_ref: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    created_at = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)

from __future__ import annotations

from sqlalchemy import (CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import BigIntPK, JSONType, UTCDateTime, enum_values, utcnow
from .status import NoteFlag, OrderStatus

_status_enum = Enum(OrderStatus, native_enum=False, length=24, values_callable=enum_values,
                    validate_strings=True)


class Order(db.Model):
    """One order: a set of lines shipped together under one ship-by promise.

    ``status`` changes only through :func:`storefront.orders.transitions.transition`.
    Money columns are integer minor units of ``currency``.
    """

    __tablename__ = "orders"
    __table_args__ = (
        # Deadlines the sweeps scan, and the staff/buyer list filters.
        Index("ix_orders_status_pay_deadline", "status", "pay_deadline"),
        Index("ix_orders_status_ship_by", "status", "ship_by"),
        Index("ix_orders_status_auto_confirm_at", "status", "auto_confirm_at"),
        Index("ix_orders_status_closed_at", "status", "closed_at"),  # the owed-refunds sweep
        Index("ix_orders_status_id", "status", "id"),
        Index("ix_orders_user_id_id", "user_id", "id"),
        Index("ix_orders_placed_at", "placed_at"),
        # Staff search by order-number prefix (LIKE 'T2611%'): PostgreSQL needs
        # pattern ops for LIKE to use a b-tree under a non-C collation.
        Index("ix_orders_number_pattern", "number", postgresql_ops={"number": "varchar_pattern_ops"}),
        CheckConstraint("total >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(_status_enum, default=OrderStatus.PENDING_PAYMENT)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer)
    # total = subtotal + sum(adjustment amounts) + shipping_total
    discount_total: Mapped[int] = mapped_column(Integer, default=0)  # positive = money off (sum of discounts)
    shipping_total: Mapped[int] = mapped_column(Integer, default=0)  # delivery fee before shipping adjustments
    total: Mapped[int] = mapped_column(Integer)
    # Delivery
    delivery_code: Mapped[str] = mapped_column(String(40))
    delivery_label: Mapped[str] = mapped_column(String(120))
    ship_name: Mapped[str] = mapped_column(String(120), default="")
    ship_phone: Mapped[str] = mapped_column(String(32), default="", index=True)
    ship_address: Mapped[str] = mapped_column(String(400), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    buyer_note: Mapped[str] = mapped_column(String(500), default="")
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    # Lifecycle timestamps and deadlines (naive UTC)
    placed_at = mapped_column(UTCDateTime, default=utcnow)
    pay_deadline = mapped_column(UTCDateTime)
    paid_at = mapped_column(UTCDateTime)
    ship_by = mapped_column(UTCDateTime)
    # Set once by the sweep when ship_by passed unshipped ("ship_overdue" event).
    ship_overdue_at = mapped_column(UTCDateTime)
    shipped_at = mapped_column(UTCDateTime)
    auto_confirm_at = mapped_column(UTCDateTime)
    auto_confirm_extended: Mapped[int] = mapped_column(Integer, default=0)
    completed_at = mapped_column(UTCDateTime)
    closed_at = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(40))
    closed_by_seller: Mapped[bool] = mapped_column(default=False)
    # Money received so far (order_payments applied by confirm_payment); equals
    # total once paid. Less than total while a deposit waits for its balance.
    paid_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Refunded so far; only grows by conditional UPDATE, never beyond paid_total.
    refunded_total: Mapped[int] = mapped_column(Integer, default=0)
    # Free-form data of plugins (presale promise, pickup slot...), namespaced by plugin.
    data: Mapped[dict] = mapped_column(JSONType, default=dict)

    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )
    adjustments: Mapped[list["OrderAdjustment"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderAdjustment.position"
    )
    events: Mapped[list["OrderEvent"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id"
    )
    notes: Mapped[list["OrderNote"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderNote.id"
    )
    user = relationship("User")
    #: The checkout's payment; later payments (a presale balance) are in ``order_payments``.
    payment = relationship("Payment")
    #: What each payment pays towards this order (``payments.models.OrderPayment``), oldest first.
    payment_links = relationship("OrderPayment", cascade="all, delete-orphan", order_by="OrderPayment.id")


class OrderLine(db.Model):
    """A price snapshot of one SKU in an order and what the buyer paid for it."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("paid_amount >= 0", name="paid_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id", ondelete="SET NULL"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    product_name: Mapped[str] = mapped_column(String(200))
    sku_code: Mapped[str] = mapped_column(String(64))
    sku_label: Mapped[str] = mapped_column(String(200), default="")
    unit_price: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_subtotal: Mapped[int] = mapped_column(Integer)
    discount: Mapped[int] = mapped_column(Integer, default=0)  # this line's share of all discounts
    paid_amount: Mapped[int] = mapped_column(Integer)  # line_subtotal - discount
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderAdjustment(db.Model):
    """One line of the price breakdown (a discount or a shipping fee) with its source."""

    __tablename__ = "order_adjustments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16))  # "discount" | "shipping"
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(64))  # "core" or a plugin name
    amount: Mapped[int] = mapped_column(Integer)  # signed: negative for money off
    # Per-line allocation of a discount: {order_line_id: amount}
    allocation: Mapped[dict] = mapped_column(JSONType, default=dict)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)

    order: Mapped[Order] = relationship(back_populates="adjustments")


class OrderEvent(db.Model):
    """The order timeline: every transition and notable fact, append-only."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    at = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))  # "status", "note", "shipped", plugin kinds...
    actor_kind: Mapped[str] = mapped_column(String(16))  # buyer | staff | system | guest
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(64), default="core")
    # Whether the buyer sees this entry on their timeline.
    public: Mapped[bool] = mapped_column(default=True)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)

    order: Mapped[Order] = relationship(back_populates="events")


class OrderNote(db.Model):
    __tablename__ = "order_notes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(120), default="")
    is_staff: Mapped[bool] = mapped_column(default=True)
    flag: Mapped[NoteFlag] = mapped_column(
        Enum(NoteFlag, native_enum=False, length=16, values_callable=enum_values), default=NoteFlag.NONE
    )
    body: Mapped[str] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="notes")

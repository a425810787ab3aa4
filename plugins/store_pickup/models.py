"""Tables of the store pickup plugin (all prefixed ``store_pickup_``).

Times are naive UTC; opening hours are shop-local wall-clock times
(``STOREFRONT_TIMEZONE``). Slot capacity is a counter row per location and
slot start, taken with ``UPDATE ... SET used = used + 1 WHERE used < :cap``.
Location stock (optional, per SKU) is taken the same way, ``WHERE quantity >= :q``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer,
                        String, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.models_base import JSONType

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

PREPARING, READY, COLLECTED, CANCELLED = "preparing", "ready", "collected", "cancelled"
STATUSES = (PREPARING, READY, COLLECTED, CANCELLED)
OPEN_STATUSES = (PREPARING, READY)


class Location(db.Model):
    __tablename__ = "store_pickup_locations"
    __table_args__ = (
        CheckConstraint("prep_minutes >= 0", name="prep_not_negative"),
        CheckConstraint("slot_minutes > 0", name="slot_positive"),
        CheckConstraint("slot_capacity > 0", name="capacity_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(255))
    city: Mapped[str] = mapped_column(String(80), default="")
    province: Mapped[str] = mapped_column(String(80), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    map_url: Mapped[str] = mapped_column(String(500), default="")
    #: {"0": ["09:00", "21:00"], ...} Monday = "0"; a missing weekday is closed.
    hours: Mapped[dict] = mapped_column(JSONType, default=dict)
    #: ["2026-11-11", ...] shop-local dates the store is closed.
    closed_dates: Mapped[list] = mapped_column(JSONType, default=list)
    prep_minutes: Mapped[int] = mapped_column(Integer, default=60)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=60)
    slot_capacity: Mapped[int] = mapped_column(Integer, default=10)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)


class SlotUsage(db.Model):
    """How many pickups a slot holds; created on first use (INSERT ... ON CONFLICT DO NOTHING)."""

    __tablename__ = "store_pickup_slot_usage"
    __table_args__ = (
        UniqueConstraint("location_id", "slot_start", name="uq_store_pickup_slot_usage_location_slot"),
        CheckConstraint("used >= 0", name="used_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("store_pickup_locations.id", ondelete="CASCADE"))
    slot_start: Mapped[datetime] = mapped_column(DateTime)
    used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Pickup(db.Model):
    """One order's pickup. ``open_code`` is the code while the pickup is open and NULL
    afterwards, so the unique constraint means "unique among open pickups"."""

    __tablename__ = "store_pickup_pickups"
    __table_args__ = (
        Index("ix_store_pickup_pickups_location_slot", "location_id", "slot_start"),
        Index("ix_store_pickup_pickups_status_ready_at", "status", "ready_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("store_pickup_locations.id"), index=True)
    slot_start: Mapped[datetime] = mapped_column(DateTime)
    slot_end: Mapped[datetime] = mapped_column(DateTime)
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_phone: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=PREPARING)
    reference: Mapped[str] = mapped_column(String(40))
    code: Mapped[str | None] = mapped_column(String(16))
    open_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(DateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)
    collected_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    collected_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: [[sku_id, quantity], ...] taken from the location's stock at checkout (tracked SKUs only).
    stock_lines: Mapped[list] = mapped_column(JSONType, default=list)
    #: Set by the one transaction that gave the slot place and the location stock back
    #: (the order closed before collection); NULL while they are held or were used up.
    released_at: Mapped[datetime | None] = mapped_column(DateTime)

    location: Mapped[Location] = relationship()
    order = relationship("Order")


class LocationStock(db.Model):
    """A store's allocation of a SKU (part of the core's ``skus.stock``, see README).

    No row = not tracked at this store: only the core stock limits it.
    """

    __tablename__ = "store_pickup_location_stock"
    __table_args__ = (
        UniqueConstraint("location_id", "sku_id", name="uq_store_pickup_location_stock_location_sku"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("store_pickup_locations.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    sku = relationship("Sku")


class VerifyAttempts(db.Model):
    """Wrong-code counter per staff member and location, for the counter lockout."""

    __tablename__ = "store_pickup_verify_attempts"
    __table_args__ = (UniqueConstraint("user_id", "location_id", name="uq_store_pickup_verify_user_location"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("store_pickup_locations.id", ondelete="CASCADE"))
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)

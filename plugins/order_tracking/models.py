"""Tables of the order tracking plugin (all prefixed ``order_tracking_``).

A parcel belongs to one core order; the core keeps one carrier and tracking
number per order, further parcels of a multi-parcel shipment live only here.
``last_event_at`` (the last news) starts at the parcel's creation so "no news for N days"
is one indexed range scan (the stuck list).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.models_base import BigIntPK, UTCDateTime, utcnow
from storefront.orders.models import Order

STATUSES = ("in_transit", "out_for_delivery", "delivered", "exception", "info")


class Carrier(db.Model):
    __tablename__ = "order_tracking_carriers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    #: Carrier's own tracking page; ``{tracking}`` is replaced by the URL-encoded number.
    tracking_url: Mapped[str] = mapped_column(String(500), default="")
    #: Typical days from hand-over to delivery (estimated delivery date).
    transit_days: Mapped[int] = mapped_column(Integer, default=3)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Parcel(db.Model):
    __tablename__ = "order_tracking_parcels"
    __table_args__ = (
        UniqueConstraint("order_id", "tracking_number", name="uq_order_tracking_parcels_order_tracking"),
        Index("ix_order_tracking_parcels_carrier_tracking", "carrier_code", "tracking_number"),
        Index("ix_order_tracking_parcels_last_event_at", "last_event_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    carrier_code: Mapped[str] = mapped_column(String(32), default="")
    carrier_name: Mapped[str] = mapped_column(String(80))
    tracking_number: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[str] = mapped_column(String(24), default="")
    #: Time of the event that set ``last_status`` (events may arrive out of order).
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(Order, lazy="raise_on_sql")
    events: Mapped[list["ParcelEvent"]] = relationship(
        back_populates="parcel", order_by="(ParcelEvent.at, ParcelEvent.id)", cascade="all, delete-orphan")


class ParcelEvent(db.Model):
    __tablename__ = "order_tracking_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("order_tracking_parcels.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(24))
    location: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16), default="staff")  # staff | webhook
    #: The aggregator's event id: a redelivered push is recognised, never stored twice.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parcel: Mapped[Parcel] = relationship(back_populates="events")

"""Tables of the presale plugin (all prefixed ``presale_``).

Times are naive UTC; a fixed ship date is a shop-local calendar date. The
quota is a counter row per campaign and SKU, taken with
``UPDATE ... SET sold = sold + :q WHERE sold + :q <= quota`` and given back
once per reservation (``released_at IS NULL`` guard); the per-buyer limit
is a counter row per campaign and buyer, handled the same way.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer,
                        String, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.clock import utcnow
from storefront.extensions import db

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

FULL, DEPOSIT = "full", "deposit"
MODES = (FULL, DEPOSIT)
BY_DATE, WITHIN_DAYS = "date", "days"
PROMISE_KINDS = (BY_DATE, WITHIN_DAYS)


class Campaign(db.Model):
    """A product (all or some of its SKUs) on presale: window, promise, price, deposit rules."""

    __tablename__ = "presale_campaigns"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
        Index("ix_presale_campaigns_product_active", "product_id", "active"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16), default=FULL)
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    promise_kind: Mapped[str] = mapped_column(String(8), default=BY_DATE)
    ship_by_date: Mapped[date | None] = mapped_column(Date)
    ship_within_days: Mapped[int | None] = mapped_column(Integer)
    #: Presale price (minor units); None = the SKU price.
    price: Mapped[int | None] = mapped_column(Integer)
    per_buyer_limit: Mapped[int | None] = mapped_column(Integer)
    #: Deposit mode: paid now per unit, and what it counts for against the price (expansion).
    deposit: Mapped[int | None] = mapped_column(Integer)
    deposit_value: Mapped[int | None] = mapped_column(Integer)
    balance_opens_at: Mapped[datetime | None] = mapped_column(DateTime)
    balance_closes_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Whether an unpaid balance gives the deposit back (default: kept).
    return_deposit: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)

    product = relationship("Product")
    quotas: Mapped[list["Quota"]] = relationship(back_populates="campaign", order_by="Quota.id",
                                                 cascade="all, delete-orphan")


class Quota(db.Model):
    """Presale stock of one SKU in a campaign, separate from the SKU's spot stock."""

    __tablename__ = "presale_quotas"
    __table_args__ = (
        UniqueConstraint("campaign_id", "sku_id", name="uq_presale_quotas_campaign_sku"),
        Index("ix_presale_quotas_sku_id", "sku_id"),
        CheckConstraint("sold >= 0", name="sold_not_negative"),
        CheckConstraint("sold <= quota", name="sold_within_quota"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("presale_campaigns.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    quota: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    campaign: Mapped[Campaign] = relationship(back_populates="quotas")
    sku = relationship("Sku")


class BuyerCount(db.Model):
    """How many units of a campaign one buyer holds (for the per-buyer limit)."""

    __tablename__ = "presale_buyer_counts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "user_id", name="uq_presale_buyer_counts_campaign_user"),
        CheckConstraint("bought >= 0", name="bought_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("presale_campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bought: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PresaleOrder(db.Model):
    """One presale order: a snapshot of its promise and deposit rules, and its reminders.

    Snapshots make the order keep its promise and balance window whatever
    happens to the campaign later (edited, deactivated, plugin disabled).
    """

    __tablename__ = "presale_orders"
    __table_args__ = (
        Index("ix_presale_orders_mode_closes", "mode", "balance_closes_at"),
        Index("ix_presale_orders_mode_opens", "mode", "balance_opens_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("presale_campaigns.id", ondelete="SET NULL"),
                                                    index=True)
    mode: Mapped[str] = mapped_column(String(16))
    promise_kind: Mapped[str] = mapped_column(String(8))
    ship_by_date: Mapped[date | None] = mapped_column(Date)
    ship_within_days: Mapped[int | None] = mapped_column(Integer)
    deposit_total: Mapped[int] = mapped_column(Integer, default=0)
    deposit_value_total: Mapped[int] = mapped_column(Integer, default=0)
    balance_opens_at: Mapped[datetime | None] = mapped_column(DateTime)
    balance_closes_at: Mapped[datetime | None] = mapped_column(DateTime)
    return_deposit: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded_open_at: Mapped[datetime | None] = mapped_column(DateTime)
    reminded_close_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Set once by the sweep that closed the order for an unpaid balance.
    balance_closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)

    order = relationship("Order")
    reservations: Mapped[list["Reservation"]] = relationship(back_populates="presale_order",
                                                             order_by="Reservation.id")


class Reservation(db.Model):
    """Quota held by one order line; ``released_at`` is set exactly once when it comes back."""

    __tablename__ = "presale_reservations"
    __table_args__ = (Index("ix_presale_reservations_released_at", "released_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    presale_order_id: Mapped[int] = mapped_column(ForeignKey("presale_orders.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), unique=True)
    quota_id: Mapped[int] = mapped_column(ForeignKey("presale_quotas.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("presale_campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(DateTime)

    presale_order: Mapped[PresaleOrder] = relationship(back_populates="reservations")

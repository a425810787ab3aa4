"""Store credit ledger, compensations and registries (after-sales money side).

``models.py`` imports this module at its end, so these tables join the
plugin's metadata and its Alembic branch. Money columns are integer minor
units of ``currency``.
"""
from __future__ import annotations

from sqlalchemy import (Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from storefront.extensions import db
from storefront.models_base import BigIntPK, JSONType, UTCDateTime, utcnow

__all__ = ["CreditBalance", "CreditEntry", "Compensation", "WrongShipment", "ParcelClaim", "MetricDay",
           "CREDIT_KINDS", "COMPENSATION_KINDS", "PARCEL_KINDS", "PARCEL_STATUSES", "RESOLUTIONS"]

#: Why a ledger entry exists. ``checkout`` debits and ``checkout_return`` gives back an order's credit.
CREDIT_KINDS = ("compensation", "checkout", "checkout_return", "adjustment", "refund")
COMPENSATION_KINDS = ("late_shipment", "out_of_stock")
PARCEL_KINDS = ("lost", "damaged")
#: A parcel claim against the carrier, for the month-end reckoning.
PARCEL_STATUSES = ("open", "claimed", "settled", "rejected")
RESOLUTIONS = ("reship", "exchange", "refund", "other")


class CreditBalance(db.Model):
    """The spendable balance per buyer and currency; changed only by conditional UPDATE."""

    __tablename__ = "aftersales_credit_balances"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    #: The buyer's choice on the store credit page: spend it at checkout or keep it.
    use_at_checkout: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at = mapped_column(UTCDateTime, default=utcnow)


class CreditEntry(db.Model):
    """One signed movement of store credit; the balance is the sum of a buyer's entries."""

    __tablename__ = "aftersales_credit_entries"
    __table_args__ = (
        Index("ix_aftersales_credit_entries_user_id_id", "user_id", "id"),
        Index("ix_aftersales_credit_entries_order_id_kind", "order_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(24))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("aftersales_cases.id", ondelete="SET NULL"),
                                                index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    #: Makes every posting exactly-once: a retried or concurrent posting hits the unique key.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    actor_kind: Mapped[str] = mapped_column(String(16), default="system")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow)


class Compensation(db.Model):
    """A compensation owed under DOMAIN.md §3: at most one per order and kind."""

    __tablename__ = "aftersales_compensations"
    __table_args__ = (
        UniqueConstraint("order_id", "kind", name="uq_aftersales_compensations_order_kind"),
        Index("ix_aftersales_compensations_status_created_at", "status", "created_at"),
        Index("ix_aftersales_compensations_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    #: What the percentage was taken of (paid amount or item price).
    basis: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))  # credit | refund
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | paid
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow)
    paid_at = mapped_column(UTCDateTime)


class WrongShipment(db.Model):
    """Wrong-shipment log kept by staff (DOMAIN.md §6)."""

    __tablename__ = "aftersales_wrong_shipments"
    __table_args__ = (Index("ix_aftersales_wrong_shipments_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    # One registry entry per case: logging a case twice is refused by the database.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("aftersales_cases.id", ondelete="SET NULL"),
                                                unique=True)
    order_number: Mapped[str] = mapped_column(String(32))
    expected_item: Mapped[str] = mapped_column(String(200), default="")
    sent_item: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    resolution: Mapped[str] = mapped_column(String(16), default="other")
    cost: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_label: Mapped[str] = mapped_column(String(120), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow)


class ParcelClaim(db.Model):
    """Lost/damaged-parcel compensation log, reckoned with the carrier at month end."""

    __tablename__ = "aftersales_parcel_claims"
    __table_args__ = (
        Index("ix_aftersales_parcel_claims_created_at", "created_at"),
        Index("ix_aftersales_parcel_claims_carrier_created_at", "carrier", "created_at"),
        CheckConstraint("paid_to_buyer >= 0 AND claimed_from_carrier >= 0",
                        name="amounts_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("aftersales_cases.id", ondelete="SET NULL"),
                                                unique=True)
    order_number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # lost | damaged
    carrier: Mapped[str] = mapped_column(String(40), default="")
    tracking_number: Mapped[str] = mapped_column(String(64), default="")
    paid_to_buyer: Mapped[int] = mapped_column(Integer, default=0)
    claimed_from_carrier: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_label: Mapped[str] = mapped_column(String(120), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow)
    updated_at = mapped_column(UTCDateTime, default=utcnow)


class MetricDay(db.Model):
    """The metrics' raw sums of one shop-local day (``metrics.COUNTS``), kept by the sweep.

    The metrics page and the dashboard widget read up to 90 of these rows
    instead of aggregating every order of the window on each view; only
    today (and a day without a row) is aggregated live. ``utc_offset``
    is the shop zone's offset the day was cut with: a row cut with another
    offset (the time zone setting changed) is treated as missing.
    """

    __tablename__ = "aftersales_metric_days"
    __table_args__ = (Index("ix_aftersales_metric_days_computed_at", "computed_at"),)

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, shop-local
    utc_offset: Mapped[int] = mapped_column(Integer)  # minutes
    figures: Mapped[dict] = mapped_column(JSONType, default=dict)
    computed_at = mapped_column(UTCDateTime, default=utcnow)

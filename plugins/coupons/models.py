"""Tables of the coupons plugin (all prefixed ``coupons_``).

Counters (``used``, ``claimed`` and the per-buyer counts) change only by
conditional ``UPDATE ... WHERE n < limit`` with the row count checked; money
is integer minor units; times naive UTC.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.models_base import JSONType

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

KINDS = ("percent", "fixed", "tiers", "repeat", "shipping")


def live_at(active: bool, starts_at: datetime | None, ends_at: datetime | None, now: datetime) -> bool:
    """Active and inside its validity window (the end is exclusive); shared with the cached snapshots."""
    return bool(active) and (starts_at is None or starts_at <= now) and (ends_at is None or now < ends_at)


class Coupon(db.Model):
    __tablename__ = "coupons_coupons"
    __table_args__ = (
        CheckConstraint("used >= 0 AND claimed >= 0", name="counters_positive"),
        CheckConstraint("total_quantity IS NULL OR used <= total_quantity", name="used_within_quantity"),
        CheckConstraint("claim_quota IS NULL OR claimed <= claim_quota", name="claimed_within_quota"),
        Index("ix_coupons_coupons_claimable_active", "claimable", "active"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    #: Normalised (NFKC, upper case, no spaces); NULL for wallet-only coupons and generated batches.
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: percent: basis points (1000 = 10 %).
    percent_bp: Mapped[int] = mapped_column(Integer, default=0)
    #: percent: cap on the discount (0 = none); repeat: cap (0 = none).
    max_discount: Mapped[int] = mapped_column(Integer, default=0)
    #: fixed: amount off; repeat: amount off per step.
    amount: Mapped[int] = mapped_column(Integer, default=0)
    #: repeat: every ``step`` spent.
    step: Mapped[int] = mapped_column(Integer, default=0)
    #: tiers: [[spend, off], ...] ascending.
    tiers: Mapped[list] = mapped_column(JSONType, default=list)
    min_spend: Mapped[int] = mapped_column(Integer, default=0)
    #: Empty = whole shop; else only these product ids count.
    product_ids: Mapped[list] = mapped_column(JSONType, default=list)
    exclude_presale: Mapped[bool] = mapped_column(Boolean, default=False)
    exclude_discounted: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime)
    total_quantity: Mapped[int | None] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    per_buyer_limit: Mapped[int | None] = mapped_column(Integer)  # NULL = unlimited
    #: Claimable into the wallet (from product page, cart, popup).
    claimable: Mapped[bool] = mapped_column(Boolean, default=False)
    claim_quota: Mapped[int | None] = mapped_column(Integer)
    claimed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Bulk-generated single-use codes (``coupons_codes``) are the only way to use it.
    single_use_codes: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    def is_live(self, now: datetime) -> bool:
        return live_at(self.active, self.starts_at, self.ends_at, now)

    @property
    def claim_quota_left(self) -> bool:
        return self.claim_quota is None or self.claimed < self.claim_quota

    @property
    def exhausted(self) -> bool:
        return self.total_quantity is not None and self.used >= self.total_quantity


class CouponCode(db.Model):
    """A generated single-use code of a coupon."""

    __tablename__ = "coupons_codes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons_coupons.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class WalletCoupon(db.Model):
    """A coupon claimed by a buyer; ``used_at`` is set while an order uses it."""

    __tablename__ = "coupons_wallet"
    __table_args__ = (Index("ix_coupons_wallet_user_coupon", "user_id", "coupon_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons_coupons.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))

    coupon: Mapped[Coupon] = relationship(lazy="joined")


class BuyerCount(db.Model):
    """Per-buyer claims and uses of a coupon (the per-buyer limits' counter row)."""

    __tablename__ = "coupons_buyer_counts"
    __table_args__ = (
        UniqueConstraint("coupon_id", "user_id", name="uq_coupons_buyer_counts_coupon_user"),
        CheckConstraint("used >= 0 AND claimed >= 0", name="buyer_counters_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons_coupons.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CouponUse(db.Model):
    """One checkout that used a coupon; ``returned`` once given back (closed unpaid / cancelled)."""

    __tablename__ = "coupons_uses"
    __table_args__ = (
        UniqueConstraint("payment_id", name="uq_coupons_uses_payment"),
        Index("ix_coupons_uses_coupon_status", "coupon_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons_coupons.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("coupons_codes.id", ondelete="SET NULL"))
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("coupons_wallet.id", ondelete="SET NULL"))
    discount: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="used")  # used | returned
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime)

"""Tables of the promo popups plugin (all prefixed ``promo_popups_``).

Times are naive UTC (``storefront.clock.utcnow``); the admin enters and
shows them in the shop time zone. Statistics are one counter row per popup,
variant and shop-local day, incremented with ``UPDATE ... SET n = n + 1``.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index,
                        Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from storefront.clock import utcnow
from storefront.extensions import db

# Same as the core's key type: BIGINT on PostgreSQL, rowid alias on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

PAGES = ("home", "product", "category", "cart", "all")
AUDIENCES = ("everyone", "new", "signed_in", "no_order")
TRIGGERS = ("load", "delay", "scroll", "exit")
FREQUENCIES = ("always", "session", "day", "once")
EVENTS = ("impression", "click", "dismiss", "claim")
VARIANTS = ("a", "b")


class Popup(db.Model):
    __tablename__ = "promo_popups_popups"
    __table_args__ = (
        # The cache fill reads active popups only; the admin list orders by id.
        Index("ix_promo_popups_popups_active_priority", "active", "priority"),
        CheckConstraint("split_percent >= 0 AND split_percent <= 100", name="split_range"),
        CheckConstraint("trigger_value >= 0", name="trigger_value_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str] = mapped_column(String(500), default="")
    image_alt: Mapped[str] = mapped_column(String(200), default="")
    cta_label: Mapped[str] = mapped_column(String(60), default="")
    cta_url: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime | None] = mapped_column(DateTime)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Comma-separated subset of PAGES.
    pages: Mapped[str] = mapped_column(String(64), default="home")
    audience: Mapped[str] = mapped_column(String(16), default="everyone")
    trigger: Mapped[str] = mapped_column(String(16), default="load")
    #: Seconds for "delay", percent for "scroll"; unused otherwise.
    trigger_value: Mapped[int] = mapped_column(Integer, default=0)
    frequency: Mapped[str] = mapped_column(String(16), default="session")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    b_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    b_title: Mapped[str] = mapped_column(String(120), default="")
    b_body: Mapped[str] = mapped_column(Text, default="")
    b_cta_label: Mapped[str] = mapped_column(String(60), default="")
    b_cta_url: Mapped[str] = mapped_column(String(500), default="")
    #: Share of visitors (percent) who see variant B.
    split_percent: Mapped[int] = mapped_column(Integer, default=50)
    coupon_code: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def page_list(self) -> list[str]:
        return [p for p in (self.pages or "").split(",") if p]

    def is_live(self, now: datetime) -> bool:
        """Active and inside [starts_at, ends_at): the end is exclusive, so start == end never shows."""
        if not self.active:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            return False
        return True


class PopupStat(db.Model):
    __tablename__ = "promo_popups_stats"
    __table_args__ = (
        UniqueConstraint("popup_id", "variant", "day", name="uq_promo_popups_stats_popup_variant_day"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    popup_id: Mapped[int] = mapped_column(ForeignKey("promo_popups_popups.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(1))
    day: Mapped[date] = mapped_column(Date)
    impressions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dismissals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

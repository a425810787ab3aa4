from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import BigIntPK, JSONType, UTCDateTime, utcnow


class Cart(db.Model):
    """A buyer's cart, or a guest's keyed by a random token kept in the session."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Choices made at checkout or by plugins (delivery option, coupon code...).
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)

    lines: Mapped[list["CartLine"]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartLine.id"
    )

    @property
    def stored(self) -> bool:
        """False for a buy-now's transient cart (storefront.checkout.buy_now): priced and
        checked out like any cart, never saved. Code that writes the cart's row skips it."""
        return sa_inspect(self).key is not None


class CartLine(db.Model):
    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "sku_id", name="uq_cart_lines_cart_sku"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    added_at = mapped_column(UTCDateTime, default=utcnow)

    cart: Mapped[Cart] = relationship(back_populates="lines")
    sku = relationship("Sku")

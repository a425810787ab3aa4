from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import BigIntPK, JSONType, UTCDateTime, utcnow


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Product(db.Model):
    __tablename__ = "products"
    __table_args__ = (Index("ix_products_active_id", "active", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Deferred: only the product page, the product API and the admin form show it. A seller's
    # description runs to kilobytes, and every cart, checkout, listing and flash request loads
    # the products of its lines; those would carry it along (undefer where it is shown).
    description: Mapped[str] = mapped_column(Text, default="", deferred=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"), index=True)
    # Names of the option axes, e.g. ["Colour", "Size"].
    option_names: Mapped[list] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    category: Mapped[Category | None] = relationship()
    skus: Mapped[list["Sku"]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="Sku.position, Sku.id"
    )
    images: Mapped[list["ProductImage"]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductImage.position, ProductImage.id"
    )

    @property
    def cover(self) -> "ProductImage | None":
        return self.images[0] if self.images else None


class Sku(db.Model):
    """A buyable variant. ``stock`` only changes by conditional UPDATE."""

    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    # Option values in the order of Product.option_names, e.g. ["Black", "M"].
    options: Mapped[list] = mapped_column(JSONType, default=list)
    price: Mapped[int] = mapped_column(Integer)  # minor units of the shop currency
    compare_at_price: Mapped[int | None] = mapped_column(Integer)  # "was" price, for display
    stock: Mapped[int] = mapped_column(Integer, default=0)
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=5)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="skus")

    @property
    def label(self) -> str:
        return " / ".join(str(o) for o in (self.options or []))


class ProductImage(db.Model):
    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    # Random name of the re-encoded file in the upload folder.
    filename: Mapped[str] = mapped_column(String(80), unique=True)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    alt: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="images")

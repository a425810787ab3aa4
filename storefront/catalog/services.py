"""Catalog use cases that write: products, SKUs, stock, images, categories.

Every function is one short write transaction, audited with before/after,
and raises :mod:`storefront.errors` (with ``field`` set when the problem
belongs to one form field). Views and the API call these same functions.
Reads live in :mod:`storefront.catalog.queries`.
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..audit.services import record
from ..database import after_commit, write_transaction
from ..errors import ConcurrentUpdate, Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..i18n import gettext as _
from . import images as image_store
from .models import Category, Product, ProductImage, Sku

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Prices and stock are INTEGER columns (32-bit on PostgreSQL): stay well inside.
MAX_PRICE = 2_000_000_000
MAX_STOCK = 1_000_000


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:100].strip("-")


# snapshots for the audit log ------------------------------------------------

def product_snapshot(p: Product) -> dict[str, Any]:
    return {"name": p.name, "slug": p.slug, "description": p.description, "category_id": p.category_id,
            "option_names": list(p.option_names or []), "active": bool(p.active)}


def sku_snapshot(s: Sku) -> dict[str, Any]:
    return {"code": s.code, "options": list(s.options or []), "price": s.price,
            "compare_at_price": s.compare_at_price, "stock": s.stock,
            "low_stock_threshold": s.low_stock_threshold, "active": bool(s.active)}


# products -----------------------------------------------------------------

def _clean_product(data: dict[str, Any], product_id: int | None) -> dict[str, Any]:
    name = (data.get("name") or "").strip()
    if not name:
        raise ValidationFailed(_("Enter a product name."), field="name")
    if len(name) > 200:
        raise ValidationFailed(_("At most 200 characters."), field="name")
    slug = (data.get("slug") or "").strip().lower() or slugify(name) or f"product-{secrets.token_hex(3)}"
    if not SLUG_RE.match(slug) or len(slug) > 120:
        raise ValidationFailed(_("Use lower-case letters, digits and single hyphens."), field="slug")
    taken = db.session.execute(select(Product.id).where(Product.slug == slug)).scalar_one_or_none()
    if taken is not None and taken != product_id:
        raise Conflict(_("Another product already uses this address."), code="slug_taken", field="slug")
    category_id = data.get("category_id") or None
    if category_id is not None and db.session.get(Category, int(category_id)) is None:
        raise ValidationFailed(_("Choose an existing category."), field="category_id")
    names = [n.strip() for n in (data.get("option_names") or []) if n and n.strip()]
    if len(names) > 3 or len(set(names)) != len(names):
        raise ValidationFailed(_("Up to three different option names."), field="option_names")
    if product_id is not None:
        # Existing SKUs hold one value per option name: the count cannot change under them.
        counts = {len(o or []) for o in db.session.execute(select(Sku.options).where(Sku.product_id == product_id))
                  .scalars()}
        if counts and counts != {len(names)}:
            raise ValidationFailed(_("This product's SKUs have %(n)d option values; keep %(n)d option names.",
                                     n=max(counts)), field="option_names")
    return {"name": name, "slug": slug, "description": (data.get("description") or "").strip(),
            "category_id": int(category_id) if category_id else None, "option_names": names,
            "active": bool(data.get("active", True))}


def save_product(actor, data: dict[str, Any], product_id: int | None = None) -> Product:
    """Create (``product_id`` None) or update a product's own fields."""
    with write_transaction():
        product = None
        if product_id is not None:
            product = db.session.get(Product, product_id)
            if product is None:
                raise NotFound(_("No such product."))
        clean = _clean_product(data, product_id)
        before = product_snapshot(product) if product else None
        if product is None:
            product = Product(**clean)
            db.session.add(product)
        else:
            for key, value in clean.items():
                setattr(product, key, value)
        _flush_unique(_("Another product already uses this address."), "slug_taken", "slug")
        record(actor, "product.create" if before is None else "product.update", product,
               before=before, after=product_snapshot(product))
    return product


def _flush_unique(message: str, code: str, field: str) -> None:
    # Two staff saving the same slug/code at once: the unique index decides.
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise Conflict(message, code=code, field=field) from exc


# SKUs ---------------------------------------------------------------------

def _clean_sku(product: Product, data: dict[str, Any], sku_id: int | None, creating: bool) -> dict[str, Any]:
    code = (data.get("code") or "").strip()
    if not code or len(code) > 64 or not CODE_RE.match(code):
        raise ValidationFailed(_("Letters, digits, dots, dashes and underscores (up to 64)."), field="code")
    taken = db.session.execute(select(Sku.id).where(Sku.code == code)).scalar_one_or_none()
    if taken is not None and taken != sku_id:
        raise Conflict(_("Another SKU already uses this code."), code="sku_code_taken", field="code")
    options = [str(o).strip() for o in (data.get("options") or [])]
    names = product.option_names or []
    if len(options) != len(names) or any(not o for o in options):
        raise ValidationFailed(_("Give one value for each option: %(names)s.", names=", ".join(names) or "-"),
                               field="options")
    price = data.get("price")
    if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price <= MAX_PRICE:
        raise ValidationFailed(_("Enter a price of zero or more."), field="price")
    compare = data.get("compare_at_price")
    if compare is not None and (not isinstance(compare, int) or not 0 <= compare <= MAX_PRICE):
        raise ValidationFailed(_("Enter a price of zero or more."), field="compare_at_price")
    if compare is not None and compare <= price:
        raise ValidationFailed(_("The compare-at price must be higher than the price."), field="compare_at_price")
    threshold = data.get("low_stock_threshold", 5)
    if not isinstance(threshold, int) or not 0 <= threshold <= MAX_STOCK:
        raise ValidationFailed(_("Enter a whole number of zero or more."), field="low_stock_threshold")
    clean = {"code": code, "options": options, "price": price, "compare_at_price": compare,
             "low_stock_threshold": threshold, "active": bool(data.get("active", True))}
    if creating:
        stock = data.get("stock", 0)
        if not isinstance(stock, int) or isinstance(stock, bool) or not 0 <= stock <= MAX_STOCK:
            raise ValidationFailed(_("Enter a whole number of zero or more."), field="stock")
        clean["stock"] = stock
    return clean


def save_sku(actor, product_id: int, data: dict[str, Any], sku_id: int | None = None) -> Sku:
    """Create or update a SKU. Stock is set only on creation; later changes go
    through :func:`adjust_stock` so they never overwrite concurrent sales."""
    with write_transaction():
        product = db.session.get(Product, product_id)
        if product is None:
            raise NotFound(_("No such product."))
        sku = None
        if sku_id is not None:
            sku = db.session.get(Sku, sku_id)
            if sku is None or sku.product_id != product.id:
                raise NotFound(_("No such SKU."))
        clean = _clean_sku(product, data, sku_id, creating=sku is None)
        before = sku_snapshot(sku) if sku else None
        if sku is None:
            position = db.session.execute(select(func.coalesce(func.max(Sku.position), -1))
                                          .where(Sku.product_id == product.id)).scalar_one() + 1
            sku = Sku(product_id=product.id, position=position, **clean)
            db.session.add(sku)
        else:
            for key, value in clean.items():
                setattr(sku, key, value)
        _flush_unique(_("Another SKU already uses this code."), "sku_code_taken", "code")
        record(actor, "sku.create" if before is None else "sku.update", sku, before=before,
               after=sku_snapshot(sku))
    return sku


def adjust_stock(actor, sku_id: int, *, mode: str, quantity: int, expected: int | None = None,
                 reason: str = "") -> int:
    """Change a SKU's stock by conditional UPDATE and return the new value.

    ``mode="adjust"`` adds ``quantity`` (may be negative) unless stock would go
    below zero. ``mode="set"`` sets it to ``quantity`` only if stock is still
    ``expected`` (what the staff member saw), so a sale made meanwhile is not
    silently overwritten.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationFailed(_("Enter a whole number."), field="quantity")
    with write_transaction():
        sku = db.session.get(Sku, sku_id)
        if sku is None:
            raise NotFound(_("No such SKU."))
        if mode == "set":
            if not 0 <= quantity <= MAX_STOCK:
                raise ValidationFailed(_("Enter a whole number of zero or more."), field="quantity")
            stmt = update(Sku).where(Sku.id == sku_id).values(stock=quantity)
            if expected is not None:
                stmt = stmt.where(Sku.stock == expected)
        elif mode == "adjust":
            if quantity == 0 or abs(quantity) > MAX_STOCK:
                raise ValidationFailed(_("Enter a non-zero change."), field="quantity")
            stmt = (update(Sku).where(Sku.id == sku_id, Sku.stock + quantity >= 0,
                                      Sku.stock + quantity <= MAX_STOCK)
                    .values(stock=Sku.stock + quantity))
        else:
            raise ValidationFailed(_("Choose set or adjust."), field="mode")
        # The audit "before" must be exact even on PostgreSQL (READ COMMITTED):
        # derive it from the conditional UPDATE itself, not from an earlier read.
        seen = expected if mode == "set" and expected is not None else None
        if mode == "set" and seen is None:
            seen = db.session.execute(select(Sku.stock).where(Sku.id == sku_id)).scalar_one()
        row = db.session.execute(stmt.returning(Sku.stock).execution_options(synchronize_session=False)).first()
        if row is None:
            now = db.session.execute(select(Sku.stock).where(Sku.id == sku_id)).scalar_one()
            if mode == "set":
                raise ConcurrentUpdate(_("Stock changed to %(n)d meanwhile. Check it and try again.", n=now),
                                       field="quantity")
            raise ValidationFailed(_("Stock cannot go below zero (it is %(n)d).", n=now), field="quantity")
        after = row[0]
        before = after - quantity if mode == "adjust" else seen
        db.session.expire(sku, ["stock"])
        record(actor, "sku.stock", sku, before={"stock": before},
               after={"stock": after, "mode": mode, "quantity": quantity, "reason": reason[:200]})
    return after


# images -------------------------------------------------------------------

def add_image(actor, product_id: int, data: bytes, alt: str = "") -> ProductImage:
    """Validate and store an uploaded picture, then attach it to the product.

    Decoding happens before the transaction (no lock held while Pillow works);
    if the transaction fails the file is removed again.
    """
    if db.session.get(Product, product_id) is None:
        raise NotFound(_("No such product."))
    stored = image_store.store_upload(data)
    try:
        with write_transaction():
            position = db.session.execute(select(func.coalesce(func.max(ProductImage.position), -1))
                                          .where(ProductImage.product_id == product_id)).scalar_one() + 1
            image = ProductImage(product_id=product_id, filename=stored.filename, width=stored.width,
                                 height=stored.height, alt=(alt or "").strip()[:200], position=position)
            db.session.add(image)
            db.session.flush()
            record(actor, "product.image_add", image, after={"product_id": product_id, "filename": stored.filename})
    except BaseException:
        image_store.remove_image_file(stored.filename)
        raise
    return image


def delete_image(actor, product_id: int, image_id: int) -> None:
    with write_transaction():
        image = db.session.get(ProductImage, image_id)
        if image is None or image.product_id != product_id:
            raise NotFound(_("No such image."))
        filename = image.filename
        record(actor, "product.image_delete", image, before={"product_id": product_id, "filename": filename})
        db.session.delete(image)
        after_commit(lambda: image_store.remove_image_file(filename))


def move_image(actor, product_id: int, image_id: int, direction: int) -> None:
    """Move an image one place earlier (-1) or later (+1); the first is the cover."""
    with write_transaction():
        rows = list(db.session.execute(select(ProductImage).where(ProductImage.product_id == product_id)
                                       .order_by(ProductImage.position, ProductImage.id)).scalars())
        index = next((i for i, r in enumerate(rows) if r.id == image_id), None)
        if index is None:
            raise NotFound(_("No such image."))
        before = [r.id for r in rows]
        target = index + (1 if direction > 0 else -1)
        if 0 <= target < len(rows):
            rows[index], rows[target] = rows[target], rows[index]
        for position, row in enumerate(rows):
            row.position = position
        record(actor, "product.image_reorder", object_type="product", object_id=str(product_id),
               before={"order": before}, after={"order": [r.id for r in rows]})


# categories ---------------------------------------------------------------

def save_category(actor, data: dict[str, Any], category_id: int | None = None) -> Category:
    name = (data.get("name") or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(_("Enter a category name (up to 120 characters)."), field="name")
    slug = (data.get("slug") or "").strip().lower() or slugify(name) or f"category-{secrets.token_hex(3)}"
    if not SLUG_RE.match(slug) or len(slug) > 80:
        raise ValidationFailed(_("Use lower-case letters, digits and single hyphens."), field="slug")
    position = data.get("position") or 0
    with write_transaction():
        category = None
        if category_id is not None:
            category = db.session.get(Category, category_id)
            if category is None:
                raise NotFound(_("No such category."))
        taken = db.session.execute(select(Category.id).where(Category.slug == slug)).scalar_one_or_none()
        if taken is not None and taken != category_id:
            raise Conflict(_("Another category already uses this address."), code="slug_taken", field="slug")
        before = {"name": category.name, "slug": category.slug, "position": category.position} if category else None
        if category is None:
            category = Category(name=name, slug=slug, position=int(position))
            db.session.add(category)
        else:
            category.name, category.slug, category.position = name, slug, int(position)
        _flush_unique(_("Another category already uses this address."), "slug_taken", "slug")
        record(actor, "category.create" if before is None else "category.update", category, before=before,
               after={"name": name, "slug": slug, "position": int(position)})
    return category


def delete_category(actor, category_id: int) -> None:
    """Delete a category; its products stay, uncategorised (FK is SET NULL)."""
    with write_transaction():
        category = db.session.get(Category, category_id)
        if category is None:
            raise NotFound(_("No such category."))
        record(actor, "category.delete", category,
               before={"name": category.name, "slug": category.slug, "position": category.position})
        db.session.execute(update(Product).where(Product.category_id == category_id).values(category_id=None)
                           .execution_options(synchronize_session=False))
        db.session.delete(category)

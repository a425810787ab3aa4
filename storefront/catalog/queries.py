"""Catalog reads: listings, product lookups and what the plugins say about a SKU.

Every function here only reads (a GET never writes). List queries load SKUs,
images and the category eagerly so a page of cards costs a fixed number of
queries, whatever its size.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import joinedload, undefer
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..i18n import gettext as _  # the per-request cached translations: a label per SKU
from ..plugins.host import flatten, get_host
from ..plugins.types import Badge, Offer
from .models import Category, Product, ProductImage, Sku

MAX_PAGE = 50


@dataclass
class Page:
    items: list
    next_after: int | None


@dataclass(frozen=True)
class SkuOffer:
    """A SKU as a buyer sees it right now: price, availability and plugin extras."""

    sku: Sku
    price: int
    compare_at_price: int | None
    available: int
    state: str  # in_stock | low | sold_out | blocked
    state_label: str
    badges: tuple[Badge, ...] = ()
    ship_promise: str | None = None
    blocked_reason: str | None = None

    @property
    def buyable(self) -> bool:
        return self.state in ("in_stock", "low")


@dataclass(frozen=True)
class ProductCard:
    product: Product
    price: int | None
    compare_at_price: int | None
    badges: tuple[Badge, ...] = ()
    ship_promise: str | None = None
    sold_out: bool = False
    skus: tuple[SkuOffer, ...] = field(default=())
    price_varies: bool = False  # shown as "From ¥x"


def _eager():
    # The SKUs and images come from _load_children, after the products.
    return (joinedload(Product.category),)


@functools.cache
def _one_product_stmt(by: str, active_only: bool):
    """One product with its SKUs and category, built once per process.

    Its few SKUs are joined into the product's row (one round trip fewer than a
    separate SKU query); images are a second query (:func:`_load_images`: a join of
    both would multiply rows). The same statement object each time keeps
    SQLAlchemy's memoised cache key; building and keying it with its loader
    options cost more CPU than running it.
    """
    column = Product.slug if by == "slug" else Product.id
    stmt = (select(Product).options(joinedload(Product.skus), joinedload(Product.category),
                                    undefer(Product.description))
            .where(column == bindparam("key")))
    if active_only:
        stmt = stmt.where(Product.active.is_(True))
    return stmt


def _load_images(product: Product | None) -> Product | None:
    if product is not None:
        _load_children([product], ("images",))
    return product


def _load_children(products: list[Product], attrs: tuple[str, ...] = ("skus", "images")) -> None:
    """What ``selectinload(Product.skus)`` / ``(Product.images)`` do, with statements built once.

    The loader option builds its IN query anew on every page (about 0.5 ms of a product
    page, most of a listing's difference from a cached one). A product whose collection
    is already loaded in this session keeps it, as with the loader option."""
    for attr in attrs:
        missing = [p for p in products if attr not in p.__dict__]
        if not missing:
            continue
        found: dict[int, list] = {p.id: [] for p in missing}
        for start in range(0, len(missing), 500):
            ids = [p.id for p in missing[start:start + 500]]
            for child in db.session.execute(_children_query(attr), {"ids": ids}).scalars():
                found[child.product_id].append(child)
        for product in missing:
            set_committed_value(product, attr, found[product.id])


@functools.cache
def _children_query(attr: str):
    model = {"skus": Sku, "images": ProductImage}[attr]
    return (select(model).where(model.product_id.in_(bindparam("ids", expanding=True)))
            .order_by(model.product_id, model.position, model.id))


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_products(*, q: str | None = None, category_id: int | None = None, after: int | None = None,
                  limit: int = 24, active_only: bool = True) -> Page:
    """Products newest first, keyset-paginated on id (``after`` = last id seen)."""
    limit = max(1, min(int(limit or 24), MAX_PAGE))
    searching = bool(q and q.strip())
    params = {"limit": limit + 1}
    if searching:
        params["pattern"] = f"%{escape_like(q.strip().lower())}%"
    if category_id is not None:
        params["category_id"] = category_id
    if after:
        params["after"] = int(after)
    stmt = _listing_query(active_only, searching, category_id is not None, bool(after))
    rows = list(db.session.execute(stmt, params).scalars().unique())
    more = len(rows) > limit
    rows = rows[:limit]
    _load_children(rows)
    return Page(rows, rows[-1].id if more and rows else None)


@functools.cache
def _listing_query(active_only: bool, searching: bool, in_category: bool, after: bool):
    """The listing statement for one combination of filters, its values bound.

    Built once per combination: every catalog page and search runs one, and building
    and keying it with its loader options cost about as much as running it."""
    stmt = select(Product).options(*_eager()).order_by(Product.id.desc()).limit(bindparam("limit"))
    if active_only:
        stmt = stmt.where(Product.active.is_(True))
    if searching:
        pattern = bindparam("pattern")
        stmt = stmt.where(or_(func.lower(Product.name).like(pattern, escape="\\"),
                              func.lower(Product.description).like(pattern, escape="\\")))
    if in_category:
        stmt = stmt.where(Product.category_id == bindparam("category_id"))
    if after:
        stmt = stmt.where(Product.id < bindparam("after"))
    return stmt


def get_product(slug: str, *, active_only: bool = True) -> Product | None:
    stmt = _one_product_stmt("slug", active_only)
    return _load_images(db.session.execute(stmt, {"key": slug}).scalars().unique().one_or_none())


def get_product_by_id(product_id: int) -> Product | None:
    stmt = _one_product_stmt("id", False)
    return _load_images(db.session.execute(stmt, {"key": product_id}).scalars().unique().one_or_none())


def list_categories() -> list[Category]:
    return list(db.session.execute(_categories_query()).scalars())


def get_category(slug: str) -> Category | None:
    return db.session.execute(_category_query(), {"slug": slug}).scalar_one_or_none()


# Built once (on first use: loader options need every mapper configured, so not at import):
# every catalog page lists the categories, a category page finds its own.
@functools.cache
def _categories_query():
    return select(Category).order_by(Category.position, Category.name)


@functools.cache
def _category_query():
    return select(Category).where(Category.slug == bindparam("slug"))


def almost_gone(limit: int = 4) -> list[Product]:
    """Active products with an active SKU at or under its low-stock threshold (but not sold out)."""
    rows = list(db.session.execute(_almost_gone_query(), {"limit": limit}).scalars().unique())
    _load_children(rows)
    return rows


@functools.cache
def _almost_gone_query():
    # Built once: the home page shows them (when its page cache misses).
    return (select(Product).options(*_eager())
            .where(Product.active.is_(True),
                   exists().where(and_(Sku.product_id == Product.id, Sku.active.is_(True), Sku.stock > 0,
                                       Sku.stock <= Sku.low_stock_threshold)))
            .order_by(Product.id.desc()).limit(bindparam("limit")))


def image_by_filename(filename: str) -> ProductImage | None:
    return db.session.execute(select(ProductImage).where(ProductImage.filename == filename)).scalar_one_or_none()


# offers -------------------------------------------------------------------

def plugin_offers(product: Product, sku: Sku, buyer) -> list[Offer]:
    """Ask enabled plugins about ``sku``; a failing plugin is logged and skipped.

    This is for display. Code that takes money or stock calls
    :func:`storefront.checkout.pricing.offer_for`, where a failing plugin
    stops the operation instead.
    """
    results = flatten(get_host().call_safely("product_offer", product=product, sku=sku, buyer=buyer))
    return [o for o in results if isinstance(o, Offer)]


def sku_offer(product: Product, sku: Sku, buyer=None, offers: list[Offer] | None = None) -> SkuOffer:
    """A SKU as the buyer sees it, combined exactly as the cart and checkout
    combine it (same functions), so the page never promises what the cart refuses."""
    from ..checkout.pricing import combine_offers, sku_availability

    combined = combine_offers(plugin_offers(product, sku, buyer) if offers is None else offers)
    price = sku.price if combined.price is None else int(combined.price)
    available = sku_availability(sku, combined) if sku.active and product.active else 0
    compare = sku.compare_at_price if sku.compare_at_price and sku.compare_at_price > price else None
    blocked = combined.blocked_reason
    if blocked:
        state, label = "blocked", blocked
    elif available <= 0:
        state, label = "sold_out", _("Sold out")
    elif available <= max(0, sku.low_stock_threshold or 0):
        state, label = "low", _("Only %(n)d left", n=available)
    else:
        state, label = "in_stock", _("In stock")
    return SkuOffer(sku=sku, price=price, compare_at_price=compare, available=available, state=state,
                    state_label=label, badges=tuple(combined.badges), ship_promise=combined.ship_promise,
                    blocked_reason=blocked)


def active_skus(product: Product) -> list[Sku]:
    return [s for s in product.skus if s.active]


def product_card(product: Product, buyer=None, *, all_skus: bool = False) -> ProductCard:
    """Card data: the lowest price among active SKUs, its "was" price and plugin extras.

    With ``all_skus`` every active SKU is priced (product page, API detail);
    a card asks the plugins only about its cheapest SKU.
    """
    skus = active_skus(product)
    if not skus:
        return ProductCard(product, None, None, sold_out=True)
    if all_skus:
        offers = [sku_offer(product, s, buyer) for s in skus]
    else:
        # The card advertises the cheapest SKU one can still buy, if any.
        pool = [s for s in skus if s.stock > 0] or skus
        offers = [sku_offer(product, min(pool, key=lambda s: (s.price, s.position, s.id)), buyer)]
    buyable = [o for o in offers if o.buyable] or offers
    best = min(buyable, key=lambda o: (o.price, o.sku.position, o.sku.id))
    badges: list[Badge] = []
    seen: set[tuple[str, str]] = set()
    for o in offers:
        for b in o.badges:
            if (b.text, b.kind) not in seen:
                seen.add((b.text, b.kind))
                badges.append(b)
    promise = next((o.ship_promise for o in offers if o.ship_promise), None)
    # A card only knows its cheapest SKU; another SKU may still be in stock.
    sold_out = all(o.state in ("sold_out", "blocked") for o in offers) and (
        all_skus or all(s.stock <= 0 for s in skus))
    return ProductCard(product, best.price, best.compare_at_price, tuple(badges), promise, sold_out,
                       tuple(offers) if all_skus else (), price_varies=len({s.price for s in skus}) > 1)


def cards(products: list[Product], buyer=None) -> list[ProductCard]:
    # Each card asks the plugins about a SKU; without this a plugin that looks its
    # offers up (presale) sent one query per card: 24 on a page of the listing.
    skus = [s for p in products for s in active_skus(p)]
    if skus:
        get_host().call_safely("prefetch_offers", skus=skus, buyer=buyer)
    return [product_card(p, buyer) for p in products]


def currency() -> str:
    return current_app.config["STOREFRONT_CURRENCY"]


@dataclass(frozen=True)
class StockSummary:
    total: int
    low: int  # active SKUs at or under their threshold, not sold out
    sold_out: int  # active SKUs with no stock


def stock_summary(product: Product) -> StockSummary:
    skus = active_skus(product)
    return StockSummary(total=sum(s.stock for s in skus),
                        low=sum(1 for s in skus if 0 < s.stock <= s.low_stock_threshold),
                        sold_out=sum(1 for s in skus if s.stock <= 0))

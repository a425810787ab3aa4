"""Buyer pages of the catalog: home, listings, product page, uploaded images."""
from __future__ import annotations

import os

from flask import Blueprint, abort, g, render_template, request, send_from_directory, url_for

from ..context_objects import signed_in_user
from ..pagecache import cached_page
from ..static_assets import mark_public
from . import queries
from .images import FILENAME_RE, upload_dir

bp = Blueprint("catalog", __name__)

PAGE_SIZE = 24


def _buyer():
    return signed_in_user()


def _after_arg() -> int | None:
    try:
        value = int(request.args.get("after", ""))
    except ValueError:
        return None
    return value if value > 0 else None


@bp.get("/")
@cached_page
def home():
    buyer = _buyer()
    arrivals = queries.list_products(limit=8).items
    low = queries.almost_gone(limit=4)
    cards = queries.cards(arrivals + low, buyer)  # the plugins' look-ups once for both rows
    return render_template("catalog/home.html", categories=queries.list_categories(),
                           arrivals=cards[:len(arrivals)], almost_gone=cards[len(arrivals):])


def _listing(category=None):
    q = (request.args.get("q") or "").strip()[:100]
    page = queries.list_products(q=q or None, category_id=category.id if category else None,
                                 after=_after_arg(), limit=PAGE_SIZE)
    next_url = None
    if page.next_after:
        args = {"after": page.next_after}
        if q:
            args["q"] = q
        next_url = (url_for("catalog.category", slug=category.slug, **args) if category
                    else url_for("catalog.products", **args))
    return render_template("catalog/products.html", cards=queries.cards(page.items, _buyer()), q=q,
                           category=category, categories=queries.list_categories(), next_url=next_url,
                           first_url=(url_for("catalog.category", slug=category.slug, q=q or None) if category
                                      else url_for("catalog.products", q=q or None))
                           if _after_arg() else None)


@bp.get("/products")
@cached_page
def products():
    slug = request.args.get("category")
    category = queries.get_category(slug) if slug else None
    if slug and category is None:
        abort(404)
    return _listing(category)


@bp.get("/c/<slug>")
@cached_page
def category(slug: str):
    found = queries.get_category(slug)
    if found is None:
        abort(404)
    return _listing(found)


@bp.get("/products/<slug>")
@cached_page
def product(slug: str):
    found = queries.get_product(slug)
    if found is None:
        abort(404)
    card = queries.product_card(found, _buyer(), all_skus=True)
    first_buyable = next((o.sku.id for o in card.skus if o.buyable), None)
    return render_template("catalog/product.html", product=found, card=card, selected=first_buyable)


@bp.get("/media/<filename>")
def image(filename: str):
    # Only names we generated are served, straight from the upload folder:
    # no "..", no slashes, no other extensions.
    if not FILENAME_RE.match(filename) or not os.path.isfile(os.path.join(upload_dir(), filename)):
        abort(404)
    g.no_store = False  # public, immutable content whoever asks
    mark_public()  # no Vary: Cookie: a browser or CDN keeps it whatever the session cookie
    response = send_from_directory(upload_dir(), filename, max_age=31536000)
    # Names are random and never reused, so the content never changes.
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response

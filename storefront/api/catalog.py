"""API: the public catalog (products, product detail, categories)."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ..catalog import queries, services
from ..context_objects import signed_in_user, user_object
from ..errors import NotFound, ValidationFailed
from ..i18n import gettext as _
from ..money import MoneyError, parse_money
from .common import ApiErrorSchema, Blueprint, MoneySchema, money_json, staff_required

blp = Blueprint("api_catalog", __name__, url_prefix="", description="Public catalog: products and categories")


class ProductListArgs(Schema):
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    category = fields.String(load_default=None, metadata={"description": "Category slug"})
    after = fields.Integer(load_default=None, validate=validate.Range(min=1),
                           metadata={"description": "Keyset cursor: `next_after` of the previous page"})
    limit = fields.Integer(load_default=24, validate=validate.Range(min=1, max=queries.MAX_PAGE))


class BadgeSchema(Schema):
    text = fields.String(required=True)
    kind = fields.String(required=True)
    source = fields.String(required=True)


class CategorySchema(Schema):
    id = fields.Integer(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)


class ImageSchema(Schema):
    url = fields.String(required=True)
    width = fields.Integer()
    height = fields.Integer()
    alt = fields.String()


class ProductSummarySchema(Schema):
    id = fields.Integer(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)
    category = fields.Nested(CategorySchema, allow_none=True)
    price = fields.Nested(MoneySchema, allow_none=True, metadata={"description": "Lowest active SKU price"})
    compare_at_price = fields.Nested(MoneySchema, allow_none=True)
    image = fields.Nested(ImageSchema, allow_none=True)
    badges = fields.List(fields.Nested(BadgeSchema))
    ship_promise = fields.String(allow_none=True)
    sold_out = fields.Boolean()


class ProductPageSchema(Schema):
    items = fields.List(fields.Nested(ProductSummarySchema), required=True)
    next_after = fields.Integer(allow_none=True)


class SkuSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    options = fields.List(fields.String())
    label = fields.String()
    price = fields.Nested(MoneySchema, required=True)
    compare_at_price = fields.Nested(MoneySchema, allow_none=True)
    stock_state = fields.String(metadata={"description": "in_stock | low | sold_out | blocked"})
    stock_label = fields.String()
    available = fields.Integer()
    badges = fields.List(fields.Nested(BadgeSchema))
    ship_promise = fields.String(allow_none=True)


class ProductDetailSchema(ProductSummarySchema):
    description = fields.String()
    option_names = fields.List(fields.String())
    images = fields.List(fields.Nested(ImageSchema))
    skus = fields.List(fields.Nested(SkuSchema))


def _money(amount):
    return None if amount is None else money_json(amount, queries.currency())


def _image(img):
    if img is None:
        return None
    return {"url": url_for("catalog.image", filename=img.filename, _external=True), "width": img.width,
            "height": img.height, "alt": img.alt or ""}


def _badges(badges):
    return [{"text": b.text, "kind": b.kind, "source": b.source} for b in badges]


def _summary(card: queries.ProductCard) -> dict:
    p = card.product
    return {"id": p.id, "slug": p.slug, "name": p.name,
            "category": {"id": p.category.id, "slug": p.category.slug, "name": p.category.name} if p.category else None,
            "price": _money(card.price), "compare_at_price": _money(card.compare_at_price),
            "image": _image(p.cover), "badges": _badges(card.badges), "ship_promise": card.ship_promise,
            "sold_out": card.sold_out}


def _buyer():
    return signed_in_user()


@blp.route("/products")
class Products(MethodView):
    @blp.arguments(ProductListArgs, location="query")
    @blp.response(200, ProductPageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Unknown category")
    def get(self, args):
        """List active products, newest first (keyset pagination with `after`)."""
        category_id = None
        if args["category"]:
            category = queries.get_category(args["category"])
            if category is None:
                raise NotFound(_("No such category."))
            category_id = category.id
        page = queries.list_products(q=args["q"], category_id=category_id, after=args["after"],
                                     limit=args["limit"])
        return {"items": [_summary(c) for c in queries.cards(page.items, _buyer())], "next_after": page.next_after}


@blp.route("/products/<slug>")
class ProductDetail(MethodView):
    @blp.response(200, ProductDetailSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, slug):
        """One active product with its SKUs, prices, stock state, badges and ship promise."""
        product = queries.get_product(slug)
        if product is None:
            raise NotFound(_("No such product."))
        return _detail_body(product, _buyer())


@blp.route("/categories")
class Categories(MethodView):
    @blp.response(200, CategorySchema(many=True))
    def get(self):
        """All categories in display order."""
        return [{"id": c.id, "slug": c.slug, "name": c.name} for c in queries.list_categories()]


# staff: product editing (bearer token of a staff member) ----------------------
# The admin pages' use cases, through the same service functions.

class ProductBodySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    slug = fields.String(load_default="", metadata={"description": "Made from the name when empty"})
    description = fields.String(load_default="")
    category = fields.String(load_default=None, allow_none=True, metadata={"description": "Category slug"})
    option_names = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list)
    active = fields.Boolean(load_default=True)


class SkuBodySchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    options = fields.List(fields.String(), load_default=list)
    price = fields.String(required=True, metadata={"description": 'Decimal string in the shop currency, e.g. "129.00"'})
    compare_at_price = fields.String(load_default=None, allow_none=True)
    stock = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))
    low_stock_threshold = fields.Integer(load_default=5, validate=validate.Range(min=0, max=1_000_000))
    active = fields.Boolean(load_default=True)


class StockBodySchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(["adjust", "set"]))
    quantity = fields.Integer(required=True)
    expected = fields.Integer(load_default=None, allow_none=True,
                              metadata={"description": "For `set`: the stock you saw; refused (409) if it changed"})
    reason = fields.String(load_default="", validate=validate.Length(max=200))


class StockResultSchema(Schema):
    sku_id = fields.Integer(required=True)
    stock = fields.Integer(required=True)


def _staff_errors(view):
    for status, code in {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
                         422: "validation_failed"}.items():
        view = blp.alt_response(status, schema=ApiErrorSchema, description=code)(view)
    return blp.doc(security=[{"bearerAuth": []}])(view)


def _parse_price(text, field_name: str, *, required: bool) -> int | None:
    if text in (None, ""):
        if required:
            raise ValidationFailed(_("Enter a price."), field=field_name)
        return None
    try:
        return parse_money(text, queries.currency()).amount
    except MoneyError:
        raise ValidationFailed(_("Enter an amount like 129.00 (no minus sign, at most two decimals)."),
                               field=field_name) from None


def _detail_body(product, buyer=None) -> dict:
    card = queries.product_card(product, buyer, all_skus=True)
    body = _summary(card)
    body.update({"description": product.description or "", "option_names": list(product.option_names or []),
                 "images": [_image(i) for i in product.images],
                 "skus": [_sku_json(o) for o in card.skus]})
    return body


def _sku_json(o) -> dict:
    return {"id": o.sku.id, "code": o.sku.code, "options": [str(v) for v in o.sku.options or []],
            "label": o.sku.label, "price": _money(o.price), "compare_at_price": _money(o.compare_at_price),
            "stock_state": o.state, "stock_label": o.state_label, "available": o.available,
            "badges": _badges(o.badges), "ship_promise": o.ship_promise}


def _category_id(slug):
    if not slug:
        return None
    category = queries.get_category(slug)
    if category is None:
        raise ValidationFailed(_("Choose an existing category."), field="category")
    return category.id


def _product_data(body) -> dict:
    return {"name": body["name"], "slug": body["slug"], "description": body["description"],
            "category_id": _category_id(body["category"]), "option_names": body["option_names"],
            "active": body["active"]}


def _staff_product(product_id: int):
    product = queries.get_product_by_id(product_id)
    if product is None:
        raise NotFound(_("No such product."))
    return product


def _sku_data(body) -> dict:
    return {"code": body["code"], "options": body["options"],
            "price": _parse_price(body["price"], "price", required=True),
            "compare_at_price": _parse_price(body["compare_at_price"], "compare_at_price", required=False),
            "stock": body["stock"], "low_stock_threshold": body["low_stock_threshold"], "active": body["active"]}


@blp.route("/staff/products", methods=["POST"])
@staff_required
@blp.arguments(ProductBodySchema)
@blp.response(201, ProductDetailSchema)
@_staff_errors
def staff_create_product(body):
    """Create a product (staff). Add SKUs with POST /staff/products/{id}/skus."""
    product = services.save_product(user_object(), _product_data(body))
    return _detail_body(_staff_product(product.id))


@blp.route("/staff/products/<int:product_id>", methods=["PUT"])
@staff_required
@blp.arguments(ProductBodySchema)
@blp.response(200, ProductDetailSchema)
@_staff_errors
def staff_update_product(body, product_id):
    """Replace a product's own fields (staff)."""
    services.save_product(user_object(), _product_data(body), product_id=product_id)
    return _detail_body(_staff_product(product_id))


@blp.route("/staff/products/<int:product_id>/skus", methods=["POST"])
@staff_required
@blp.arguments(SkuBodySchema)
@blp.response(201, ProductDetailSchema)
@_staff_errors
def staff_create_sku(body, product_id):
    """Add a SKU with its initial stock (staff)."""
    services.save_sku(user_object(), product_id, _sku_data(body))
    return _detail_body(_staff_product(product_id))


@blp.route("/staff/products/<int:product_id>/skus/<int:sku_id>", methods=["PUT"])
@staff_required
@blp.arguments(SkuBodySchema)
@blp.response(200, ProductDetailSchema)
@_staff_errors
def staff_update_sku(body, product_id, sku_id):
    """Change a SKU (staff). ``stock`` is ignored here: use the stock endpoint."""
    data = _sku_data(body)
    data.pop("stock")
    services.save_sku(user_object(), product_id, data, sku_id=sku_id)
    return _detail_body(_staff_product(product_id))


@blp.route("/staff/skus/<int:sku_id>/stock", methods=["POST"])
@staff_required
@blp.arguments(StockBodySchema)
@blp.response(200, StockResultSchema)
@_staff_errors
def staff_stock(body, sku_id):
    """Add/remove stock, or set it if it is still what you saw (staff; audited)."""
    stock = services.adjust_stock(user_object(), sku_id, mode=body["mode"], quantity=body["quantity"],
                                  expected=body["expected"], reason=body["reason"])
    return {"sku_id": sku_id, "stock": stock}

"""API: cart. The signed-in buyer's own cart only (bearer token); same services as the pages."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields

from ..cart import services
from ..checkout.pricing import price_cart
from ..context_objects import user_object
from .common import MINIMAL_HEADERS, ApiErrorSchema, Blueprint, MoneySchema, prefers_minimal, token_required

blp = Blueprint("api_cart", __name__, url_prefix="", description="cart")


class CartLinePricedSchema(Schema):
    sku_id = fields.Integer(required=True)
    product_id = fields.Integer()
    product_name = fields.String()
    sku_code = fields.String()
    sku_label = fields.String()
    unit_price = fields.Integer(metadata={"description": "Minor units"})
    quantity = fields.Integer()
    subtotal = fields.Integer(metadata={"description": "unit_price × quantity, minor units"})
    discount = fields.Integer(metadata={"description": "This line's share of all discounts"})
    paid = fields.Integer(metadata={"description": "subtotal - discount"})
    ship_promise = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    badges = fields.List(fields.String())
    problem = fields.String(allow_none=True, metadata={"description": "Why this line cannot be bought as is"})


class CartAdjustmentSchema(Schema):
    code = fields.String()
    label = fields.String()
    amount = fields.Nested(MoneySchema, metadata={"description": "Signed: negative = money off"})
    source = fields.String()
    kind = fields.String(metadata={"description": "discount | shipping"})


class CartDeliveryRefSchema(Schema):
    code = fields.String()
    label = fields.String()


class PriceBreakdownSchema(Schema):
    currency = fields.String()
    lines = fields.List(fields.Nested(CartLinePricedSchema))
    subtotal = fields.Nested(MoneySchema)
    adjustments = fields.List(fields.Nested(CartAdjustmentSchema))
    shipping = fields.Nested(MoneySchema, allow_none=True)
    total = fields.Nested(MoneySchema)
    delivery = fields.Nested(CartDeliveryRefSchema, allow_none=True)


class CartSchema(Schema):
    item_count = fields.Integer()
    breakdown = fields.Nested(PriceBreakdownSchema,
                              metadata={"description": "Absent when the request said `Prefer: return=minimal`"})


class CartAddLineSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # price/total/status fields are ignored, never honoured

    sku_id = fields.Integer(required=True, strict=True)
    quantity = fields.Integer(required=True, strict=True, metadata={"description": "1..max_line_quantity (setting, 99)"})


class CartQuantitySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    quantity = fields.Integer(required=True, strict=True)


def _cart_json(cart=None):
    cart = cart if cart is not None else services.get_cart()
    breakdown = price_cart(cart, user_object())
    return {"item_count": services.cart_count(cart), "breakdown": breakdown.to_json()}


#: The ``Prefer`` request header (RFC 7240) in the OpenAPI document of the views that change lines.
PREFER_MINIMAL_DOC = {
    "parameters": [{
        "in": "header", "name": "Prefer", "required": False, "schema": {"type": "string"},
        "description": "`return=minimal`: answer with the cart's item count only, not the priced cart "
                       "(a client that checks out next, e.g. during a flash sale, spares the server the "
                       "pricing). The answer then carries `Preference-Applied: return=minimal`.",
    }],
}


def _changed_cart_json():
    """The answer to a change of the cart: priced, or only its item count when the client prefers."""
    if prefers_minimal():
        return {"item_count": services.item_count()}, MINIMAL_HEADERS
    return _cart_json(), {"Vary": "Prefer"}


_ERRORS = ((401, "Missing or bad bearer token"), (404, "Unknown SKU or line"),
           (409, "out_of_stock: not enough stock"), (422, "validation_failed / unavailable"))


def _document_errors(view):
    for status, description in _ERRORS:
        view = blp.alt_response(status, schema=ApiErrorSchema, description=description)(view)
    return view


@blp.route("/cart", methods=["GET"])
@token_required
@blp.response(200, CartSchema)
@_document_errors
def get_cart():
    """The buyer's cart, priced (same breakdown as the cart page)."""
    return _cart_json()


@blp.route("/cart/lines", methods=["POST"])
@token_required
@blp.arguments(CartAddLineSchema)
@blp.response(201, CartSchema)
@blp.doc(**PREFER_MINIMAL_DOC)
@_document_errors
def add_line(body):
    """Add a SKU (adds to the line already in the cart)."""
    services.add_to_cart(body["sku_id"], body["quantity"])
    return _changed_cart_json()


@blp.route("/cart/lines/<int:sku_id>", methods=["PATCH"])
@token_required
@blp.arguments(CartQuantitySchema)
@blp.response(200, CartSchema)
@blp.doc(**PREFER_MINIMAL_DOC)
@_document_errors
def set_line(body, sku_id):
    """Set a line's quantity."""
    services.set_quantity(services.get_cart(), sku_id, body["quantity"])
    return _changed_cart_json()


@blp.route("/cart/lines/<int:sku_id>", methods=["DELETE"])
@token_required
@blp.response(200, CartSchema)
@blp.doc(**PREFER_MINIMAL_DOC)
@_document_errors
def delete_line(sku_id):
    """Remove a line."""
    services.remove_item(services.get_cart(), sku_id)
    return _changed_cart_json()

"""API: the buyer's orders (bearer token).

``GET /orders`` lists newest first; pass ``after=<next_after>`` for the next
page. Another buyer's order answers 404 ``not_found``. Status changes answer
409 ``invalid_transition`` (or ``already_shipped`` for a late cancel).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..checkout.pricing import order_breakdown
from ..context_objects import user_object
from ..orders import services
from ..orders.display import describe_event
from ..orders.status import NoteFlag, OrderStatus
from .common import ApiErrorSchema, Blueprint, MoneySchema, UTCDateTime, money_json, token_required

blp = Blueprint("api_orders", __name__, url_prefix="", description="The signed-in buyer's orders.")

STATUS_VALUES = [s.value for s in OrderStatus]


class OrderLineSchema(Schema):
    id = fields.Integer()
    product_id = fields.Integer(allow_none=True)
    sku_id = fields.Integer(allow_none=True)
    product_name = fields.String()
    sku_code = fields.String()
    sku_label = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Nested(MoneySchema)
    subtotal = fields.Nested(MoneySchema)
    discount = fields.Nested(MoneySchema)
    paid_amount = fields.Nested(MoneySchema)
    refunded_amount = fields.Nested(MoneySchema)


class OrderEventSchema(Schema):
    id = fields.Integer()
    at = UTCDateTime(metadata={"description": "UTC"})
    kind = fields.String(metadata={"description": "status, note, payment_reminder, refund, plugin kinds..."})
    text = fields.String(metadata={"description": "Human-readable, in the request's language"})
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    reason = fields.String()
    actor_kind = fields.String()
    public = fields.Boolean()


class OrderNoteSchema(Schema):
    id = fields.Integer()
    body = fields.String()
    flag = fields.String(validate=validate.OneOf([f.value for f in NoteFlag]))
    is_staff = fields.Boolean()
    author = fields.String()
    created_at = UTCDateTime()


class BuyerOrderSummarySchema(Schema):
    number = fields.String()
    status = fields.String(validate=validate.OneOf(STATUS_VALUES))
    placed_at = UTCDateTime()
    total = fields.Nested(MoneySchema)
    item_count = fields.Integer()
    lines = fields.List(fields.Nested(OrderLineSchema))


class OrderDetailSchema(BuyerOrderSummarySchema):
    currency = fields.String()
    breakdown = fields.Dict(metadata={"description": "Breakdown.to_json(): subtotal, adjustments, shipping, total"})
    close_reason = fields.String(allow_none=True)
    closed_by_seller = fields.Boolean()
    pay_deadline = UTCDateTime(allow_none=True)
    paid_at = UTCDateTime(allow_none=True)
    ship_by = UTCDateTime(allow_none=True)
    shipped_at = UTCDateTime(allow_none=True)
    auto_confirm_at = UTCDateTime(allow_none=True)
    completed_at = UTCDateTime(allow_none=True)
    closed_at = UTCDateTime(allow_none=True)
    carrier = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)
    ship_name = fields.String()
    ship_phone = fields.String()
    ship_address = fields.String()
    delivery_label = fields.String()
    buyer_note = fields.String()
    refunded_total = fields.Nested(MoneySchema)
    timeline = fields.List(fields.Nested(OrderEventSchema))
    notes = fields.List(fields.Nested(OrderNoteSchema))


class BuyerOrderPageSchema(Schema):
    orders = fields.List(fields.Nested(BuyerOrderSummarySchema))
    next_after = fields.Integer(allow_none=True, metadata={"description": "Pass as ?after= for the next page"})


class BuyerListArgs(Schema):
    status = fields.String(validate=validate.OneOf(STATUS_VALUES))
    after = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class OrderNoteBodySchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=1000))


def line_json(line, currency: str) -> dict:
    return {
        "id": line.id, "product_id": line.product_id, "sku_id": line.sku_id, "product_name": line.product_name,
        "sku_code": line.sku_code, "sku_label": line.sku_label, "quantity": line.quantity,
        "unit_price": money_json(line.unit_price, currency), "subtotal": money_json(line.line_subtotal, currency),
        "discount": money_json(line.discount, currency), "paid_amount": money_json(line.paid_amount, currency),
        "refunded_amount": money_json(line.refunded_amount or 0, currency),
    }


def summary_json(order) -> dict:
    return {
        "number": order.number, "status": OrderStatus(order.status).value, "placed_at": order.placed_at,
        "total": money_json(order.total, order.currency), "item_count": sum(l.quantity for l in order.lines),
        "lines": [line_json(line, order.currency) for line in order.lines],
    }


def order_json(order, *, staff: bool = False) -> dict:
    """One order as the API shows it; buyers see public events and their own notes only."""
    events = order.events if staff else [e for e in order.events if e.public]
    notes = order.notes if staff else [n for n in order.notes if not n.is_staff]
    body = summary_json(order)
    body.update({
        "currency": order.currency, "breakdown": order_breakdown(order).to_json(),
        "close_reason": order.close_reason, "closed_by_seller": bool(order.closed_by_seller),
        "carrier": order.carrier, "tracking_number": order.tracking_number, "ship_name": order.ship_name,
        "ship_phone": order.ship_phone, "ship_address": order.ship_address,
        "delivery_label": order.delivery_label, "buyer_note": order.buyer_note,
        "refunded_total": money_json(order.refunded_total or 0, order.currency),
        "timeline": [{"id": e.id, "at": e.at, "kind": e.kind, "text": describe_event(e),
                      "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason,
                      "actor_kind": e.actor_kind, "public": e.public} for e in events],
        "notes": [{"id": n.id, "body": n.body, "flag": n.flag.value, "is_staff": n.is_staff,
                   "author": n.author_label if staff else ("shop" if n.is_staff else "you"),
                   "created_at": n.created_at} for n in notes],
    })
    for key in ("pay_deadline", "paid_at", "ship_by", "shipped_at", "auto_confirm_at", "completed_at", "closed_at"):
        body[key] = getattr(order, key)
    return body


ERRORS = {401: "unauthorized", 404: "not_found", 409: "invalid_transition", 422: "validation_failed"}


def _errors(view):
    for status, code in ERRORS.items():
        view = blp.alt_response(status, schema=ApiErrorSchema, description=code)(view)
    return blp.doc(security=[{"bearerAuth": []}])(view)


@blp.route("/orders", methods=["GET"])
@token_required
@blp.arguments(BuyerListArgs, location="query")
@blp.response(200, BuyerOrderPageSchema)
@_errors
def list_orders(args):
    """The signed-in buyer's orders, newest first (keyset pages)."""
    orders, next_after = services.buyer_orders(user_object(), status=args.get("status"),
                                               after_id=args.get("after"), limit=args["limit"])
    return {"orders": [summary_json(o) for o in orders], "next_after": next_after}


@blp.route("/orders/<number>", methods=["GET"])
@token_required
@blp.response(200, OrderDetailSchema)
@_errors
def get_order(number):
    """One of the buyer's orders with lines, breakdown, public timeline and the buyer's notes."""
    return order_json(services.get_buyer_order(user_object(), number))


def _reload(number):
    return order_json(services.get_buyer_order(user_object(), number))


@blp.route("/orders/<number>/cancel", methods=["POST"])
@token_required
@blp.response(200, OrderDetailSchema)
@_errors
def cancel_order(number):
    """Cancel before shipment (409 ``already_shipped`` afterwards)."""
    buyer = user_object()
    services.cancel_by_buyer(services.get_buyer_order(buyer, number), buyer)
    return _reload(number)


@blp.route("/orders/<number>/confirm", methods=["POST"])
@token_required
@blp.response(200, OrderDetailSchema)
@_errors
def confirm_order(number):
    """Confirm receipt of a shipped order."""
    buyer = user_object()
    services.confirm_receipt(services.get_buyer_order(buyer, number), buyer)
    return _reload(number)


@blp.route("/orders/<number>/notes", methods=["POST"])
@token_required
@blp.arguments(OrderNoteBodySchema)
@blp.response(201, OrderNoteSchema)
@_errors
def add_note(body, number):
    """Add a note to one of the buyer's orders."""
    buyer = user_object()
    note = services.add_note(services.get_buyer_order(buyer, number), buyer, body["body"],
                             is_staff=False)
    return {"id": note.id, "body": note.body, "flag": note.flag.value, "is_staff": False, "author": "you",
            "created_at": note.created_at}

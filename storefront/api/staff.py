"""API: staff order handling (bearer token of a staff member).

Filters and actions are the admin pages' ones and call the same services.
"""
from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from ..orders import services
from ..orders.queries import StaffOrderFilters
from ..orders.status import SELLER_CANCEL_REASONS, NoteFlag
from .common import ApiErrorSchema, Blueprint, UTCDateTime, staff_required
from .orders import (STATUS_VALUES, BuyerOrderSummarySchema, OrderDetailSchema, OrderNoteSchema, order_json,
                     summary_json)

blp = Blueprint("api_staff", __name__, url_prefix="", description="Staff: orders.")


class StaffOrderSummarySchema(BuyerOrderSummarySchema):
    ship_name = fields.String()
    ship_phone = fields.String()
    ship_by = UTCDateTime(allow_none=True)
    closed_by_seller = fields.Boolean()


class StaffOrderPageSchema(Schema):
    orders = fields.List(fields.Nested(StaffOrderSummarySchema))
    next_after = fields.Integer(allow_none=True)


class StaffListArgs(Schema):
    status = fields.String(validate=validate.OneOf(STATUS_VALUES))
    date_from = fields.Date(metadata={"description": "Shop-local date, inclusive"})
    date_to = fields.Date(metadata={"description": "Shop-local date, inclusive"})
    q = fields.String(validate=validate.Length(max=64), metadata={"description": "Order number (prefix) or phone"})
    overdue_to_ship = fields.Boolean(load_default=False)
    after = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class ShipBodySchema(Schema):
    carrier = fields.String(required=True, validate=validate.Length(min=1, max=40))
    tracking_number = fields.String(required=True, validate=validate.Length(min=1, max=64))


class StaffNoteBodySchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    flag = fields.String(load_default=NoteFlag.NONE.value, validate=validate.OneOf([f.value for f in NoteFlag]))


class CancelBodySchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf([r.value for r in SELLER_CANCEL_REASONS]),
                           metadata={"description": "A seller cancellation reason code (DOMAIN.md §2)"})
    note = fields.String(load_default="", validate=validate.Length(max=500),
                         metadata={"description": "Required for buyer_unreachable"})


ERRORS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "invalid_transition",
          422: "validation_failed"}


def _errors(view):
    for status, code in ERRORS.items():
        view = blp.alt_response(status, schema=ApiErrorSchema, description=code)(view)
    return blp.doc(security=[{"bearerAuth": []}])(view)


def _staff_summary(order) -> dict:
    body = summary_json(order)
    body.update(ship_name=order.ship_name, ship_phone=order.ship_phone, ship_by=order.ship_by,
                closed_by_seller=bool(order.closed_by_seller))
    return body


def _order(number) -> dict:
    return order_json(services.get_order_by_number(number), staff=True)


@blp.route("/staff/orders", methods=["GET"])
@staff_required
@blp.arguments(StaffListArgs, location="query")
@blp.response(200, StaffOrderPageSchema)
@_errors
def list_orders(args):
    """All orders, newest first, filtered like the admin list (keyset pages)."""
    filters = StaffOrderFilters(status=args.get("status"), date_from=args.get("date_from"),
                                date_to=args.get("date_to"), q=args.get("q") or "",
                                overdue_to_ship=args["overdue_to_ship"])
    orders, next_after = services.staff_orders(filters, after_id=args.get("after"), limit=args["limit"])
    return {"orders": [_staff_summary(o) for o in orders], "next_after": next_after}


@blp.route("/staff/orders/<number>", methods=["GET"])
@staff_required
@blp.response(200, OrderDetailSchema)
@_errors
def get_order(number):
    """Any order with its whole timeline and all notes."""
    return _order(number)


@blp.route("/staff/orders/<number>/ship", methods=["POST"])
@staff_required
@blp.arguments(ShipBodySchema)
@blp.response(200, OrderDetailSchema)
@_errors
def ship(body, number):
    """Mark a paid order shipped with a carrier from the shop's list and a tracking number."""
    services.ship_order(services.get_order_by_number(number), current_user, body["carrier"],
                        body["tracking_number"])
    return _order(number)


@blp.route("/staff/orders/<number>/notes", methods=["POST"])
@staff_required
@blp.arguments(StaffNoteBodySchema)
@blp.response(201, OrderNoteSchema)
@_errors
def add_note(body, number):
    """Add a staff note (private) with a coloured flag."""
    note = services.add_note(services.get_order_by_number(number), current_user, body["body"], body["flag"],
                             is_staff=True)
    return {"id": note.id, "body": note.body, "flag": note.flag.value, "is_staff": True,
            "author": note.author_label, "created_at": note.created_at}


@blp.route("/staff/orders/<number>/cancel", methods=["POST"])
@staff_required
@blp.arguments(CancelBodySchema)
@blp.response(200, OrderDetailSchema)
@_errors
def cancel(body, number):
    """Cancel for a listed seller reason; counts as a seller cancellation."""
    services.cancel_by_seller(services.get_order_by_number(number), current_user, body["reason"], body["note"])
    return _order(number)


@blp.route("/staff/orders/<number>/extend-auto-confirm", methods=["POST"])
@staff_required
@blp.response(200, OrderDetailSchema)
@_errors
def extend_auto_confirm(number):
    """Push a shipped order's auto-confirm deadline back by the configured days."""
    services.extend_auto_confirm(services.get_order_by_number(number), current_user)
    return _order(number)


@blp.route("/staff/orders/<number>/remind", methods=["POST"])
@staff_required
@blp.response(200, OrderDetailSchema)
@_errors
def remind(number):
    """Remind the buyer of an unpaid order to pay (at most once an hour)."""
    services.remind_unpaid(services.get_order_by_number(number), current_user)
    return _order(number)


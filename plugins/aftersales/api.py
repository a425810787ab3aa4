"""JSON API of the cases side (404 while the plugin is disabled).

Buyer (bearer token) under ``/api/v1/aftersales``: list, open (multipart, with
photos), show, cancel, message, return tracking. Staff under
``/api/v1/admin/aftersales``: queue, show, approve, reject, arrive, inspect,
receive (arrive + inspect in one call), refund (to the original payment or
as store credit), reship, assign, note, message. Amounts are integer minor units. Errors are
``{"error": {"code", "message", "field"?}}`` with stable codes.
"""
from __future__ import annotations

import json

from flask import request
from marshmallow import Schema, fields, validate

from storefront.api.common import ApiErrorSchema, Blueprint, UTCDateTime, staff_required, token_required
from storefront.context_objects import user_object
from storefront.errors import NotFound, ValidationFailed
from storefront.extensions import limiter

from . import actions, cases
from .models import CATEGORIES, INSPECTION_RESULTS, KINDS, REASONS, REFUND_METHODS, STATUSES
from .queue import QueueFilters, overdue_ids, staff_queue
from .services import (case_for_buyer, events_by_case, get_case_by_number, load_orders_and_lines,
                       messages_by_case)

blp = Blueprint("aftersales_api", __name__, url_prefix="/api/v1/aftersales",
                description="After-sales requests of the signed-in buyer (plugin aftersales)")
staff_blp = Blueprint("aftersales_staff_api", __name__, url_prefix="/api/v1/admin/aftersales",
                      description="After-sales queue and decisions (plugin aftersales, staff)")

WRITE_LIMIT = "20/minute"


class AftersalesLineSchema(Schema):
    order_line_id = fields.Integer()
    quantity = fields.Integer()
    amount = fields.Integer(metadata={"description": "Minor units asked for this line"})


class AftersalesEventSchema(Schema):
    at = UTCDateTime()
    kind = fields.String()
    actor_kind = fields.String(metadata={"description": "buyer | staff | system"})
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    note = fields.String()


class AftersalesMessageSchema(Schema):
    id = fields.Integer()
    is_staff = fields.Boolean()
    body = fields.String()
    created_at = UTCDateTime()


class AftersalesCaseSchema(Schema):
    number = fields.String()
    order_number = fields.String()
    kind = fields.String()
    status = fields.String()
    reason = fields.String()
    description = fields.String()
    amount_requested = fields.Integer()
    amount_refunded = fields.Integer()
    currency = fields.String()
    escalated = fields.Boolean()
    auto_approved = fields.Boolean()
    return_address = fields.String(allow_none=True)
    return_deadline = UTCDateTime(allow_none=True)
    return_carrier = fields.String(allow_none=True)
    return_tracking = fields.String(allow_none=True)
    arrived_at = UTCDateTime(allow_none=True)
    inspected_at = UTCDateTime(allow_none=True)
    refund_method = fields.String(allow_none=True, metadata={"description": "original | credit (store credit)"})
    created_at = UTCDateTime()
    lines = fields.List(fields.Nested(AftersalesLineSchema))
    events = fields.List(fields.Nested(AftersalesEventSchema))
    messages = fields.List(fields.Nested(AftersalesMessageSchema))


class AftersalesStaffCaseSchema(AftersalesCaseSchema):
    category = fields.String()
    assignee_id = fields.Integer(allow_none=True)
    attempt = fields.Integer()
    escalation_decision = fields.String(allow_none=True)
    inspection_result = fields.String(allow_none=True)
    first_response_at = UTCDateTime(allow_none=True)
    overdue = fields.Boolean()


class AftersalesCreateSchema(Schema):
    order_number = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    reason = fields.String(required=True, validate=validate.OneOf(REASONS))
    description = fields.String(load_default="")
    amount = fields.Integer(load_default=None, allow_none=True,
                            metadata={"description": "Minor units; empty = the maximum refundable"})
    lines = fields.String(load_default="{}", metadata={
        "description": 'JSON object {"<order line id>": quantity}; ignored for refund_unshipped'})


class AftersalesFilesSchema(Schema):
    evidence = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}), load_default=list,
                           metadata={"description": "JPEG/PNG/WebP photos (required for quality, damaged, "
                                                    "wrong_item, missing_item)"})


class AftersalesBodySchema(Schema):
    body = fields.String(required=True)


class AftersalesTrackingSchema(Schema):
    carrier = fields.String(required=True)
    tracking_number = fields.String(required=True)


_METHOD_DOC = {"description": "original (back through the payment provider, default) or credit (store credit)"}


class AftersalesApproveSchema(Schema):
    return_address = fields.String(load_default=None, allow_none=True)
    method = fields.String(load_default="original", validate=validate.OneOf(REFUND_METHODS),
                           metadata={"description": "refund_unshipped only (approval refunds at once): "
                                                    + _METHOD_DOC["description"]})


class AftersalesRejectSchema(Schema):
    reason = fields.String(required=True)


class AftersalesReceiveSchema(Schema):
    inspection_result = fields.String(required=True, validate=validate.OneOf(INSPECTION_RESULTS))
    note = fields.String(load_default="")


class AftersalesArriveSchema(Schema):
    note = fields.String(load_default="")


class AftersalesRefundSchema(Schema):
    amount = fields.Integer(load_default=None, allow_none=True,
                            metadata={"description": "Minor units; empty = the amount asked"})
    method = fields.String(load_default="original", validate=validate.OneOf(REFUND_METHODS), metadata=_METHOD_DOC)


class AftersalesAssignSchema(Schema):
    assignee_id = fields.Integer(load_default=None, allow_none=True)
    category = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(CATEGORIES))


class AftersalesBuyerListArgs(Schema):
    after = fields.Integer(validate=validate.Range(min=1),
                           metadata={"description": "Continue after this request id (the last of the previous page)"})
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=200),
                           metadata={"description": "Requests per page; a shorter page is the last"})


class AftersalesQueueArgs(Schema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(STATUSES + ("all",)))
    reason = fields.String(validate=validate.OneOf(REASONS))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    assignee = fields.String(metadata={"description": "A staff user id, or 'none'"})
    overdue = fields.Boolean()
    escalated = fields.Boolean()
    page = fields.Integer(validate=validate.Range(min=1, max=1000))
    after = fields.Integer(validate=validate.Range(min=1),
                           metadata={"description": "Continue after this case id (the last of the previous page)"})


def _me():
    return user_object()


def cases_json(rows, staff: bool = False) -> list[dict]:
    """Requests as the API shows them. A list's orders, lines, timelines and messages are read
    with one statement each for all its requests: per request, a 50-request page of the staff
    queue sent some 250 statements."""
    rows = list(rows)
    ids = [c.id for c in rows]
    load_orders_and_lines(rows)
    events, messages = events_by_case(ids), messages_by_case(ids)
    overdue = overdue_ids(rows) if staff else set()
    return [_case_dict(c, events[c.id], messages[c.id], staff, c.id in overdue) for c in rows]


def case_json(case, staff: bool = False) -> dict:
    return cases_json([case], staff)[0]


def _case_dict(case, events, messages, staff: bool, overdue: bool) -> dict:
    hidden = () if staff else ("note", "assigned")
    data = {
        "number": case.number, "order_number": case.order.number, "kind": case.kind, "status": case.status,
        "reason": case.reason, "description": case.description, "amount_requested": case.amount_requested,
        "amount_refunded": case.amount_refunded, "currency": case.currency, "escalated": case.escalated,
        "auto_approved": case.auto_approved, "return_address": case.return_address,
        "return_deadline": case.return_deadline, "return_carrier": case.return_carrier,
        "return_tracking": case.return_tracking, "arrived_at": case.arrived_at,
        "inspected_at": case.inspected_at, "refund_method": case.refund_method, "created_at": case.created_at,
        "lines": [{"order_line_id": cl.order_line_id, "quantity": cl.quantity, "amount": cl.amount}
                  for cl in case.lines],
        "events": [{"at": e.at, "kind": e.kind, "actor_kind": e.actor_kind, "from_status": e.from_status,
                    "to_status": e.to_status, "note": e.note} for e in events if e.kind not in hidden],
        "messages": [{"id": m.id, "is_staff": m.is_staff, "body": m.body, "created_at": m.created_at}
                     for m in messages],
    }
    if staff:
        data.update({"category": case.category, "assignee_id": case.assignee_id, "attempt": case.attempt,
                     "escalation_decision": case.escalation_decision, "inspection_result": case.inspection_result,
                     "first_response_at": case.first_response_at, "overdue": overdue})
    return data


# -- buyer -------------------------------------------------------------------------------
def _own(number):
    return case_for_buyer(number, _me())


@blp.route("/cases", methods=["GET"])
@token_required
@blp.arguments(AftersalesBuyerListArgs, location="query")
@blp.response(200, AftersalesCaseSchema(many=True))
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def list_cases(args):
    """The buyer's requests, newest first, a page at a time (``after`` the last id seen)."""
    rows, _next = cases.buyer_cases(_me(), after_id=args.get("after"), limit=args["limit"])
    return cases_json(rows)


@blp.route("/cases", methods=["POST"])
@token_required
@limiter.limit(WRITE_LIMIT)
@blp.arguments(AftersalesCreateSchema, location="form")
@blp.arguments(AftersalesFilesSchema, location="files")
@blp.response(201, AftersalesCaseSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(409, schema=ApiErrorSchema, description="case_open, kind_not_available, nothing_to_refund")
@blp.alt_response(422, schema=ApiErrorSchema,
                  description="validation_failed, amount_too_high, evidence_required, image_rejected, image_type")
def create(body, files):
    """Open a request on one of the buyer's orders (multipart/form-data)."""
    from sqlalchemy import select

    from storefront.extensions import db
    from storefront.orders.models import Order

    order = db.session.execute(select(Order).where(Order.number == body["order_number"][:32])).scalar_one_or_none()
    if order is None or order.user_id != user_object().id:
        raise NotFound("Order not found.")
    try:
        lines = json.loads(body.get("lines") or "{}")
    except ValueError:
        raise ValidationFailed("lines must be a JSON object.", field="lines") from None
    if not isinstance(lines, dict):
        raise ValidationFailed("lines must be a JSON object.", field="lines")
    data = {"kind": body["kind"], "reason": body["reason"], "description": body.get("description") or "",
            "amount": body.get("amount"), "lines": lines}
    case = cases.create_case(order, _me(), data, files=request.files.getlist("evidence"))
    return case_json(case)


@blp.route("/cases/<number>", methods=["GET"])
@token_required
@blp.response(200, AftersalesCaseSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
def show(number):
    """One of the buyer's requests with its timeline and messages."""
    return case_json(_own(number))


@blp.route("/cases/<number>/cancel", methods=["POST"])
@token_required
@blp.response(200, AftersalesCaseSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(409, schema=ApiErrorSchema, description="concurrent_update (no longer cancellable)")
def cancel(number):
    """Withdraw a request that is still requested or waiting for the return parcel."""
    return case_json(cases.cancel_case(_own(number), _me()))


@blp.route("/cases/<number>/messages", methods=["POST"])
@token_required
@limiter.limit(WRITE_LIMIT)
@blp.arguments(AftersalesBodySchema)
@blp.response(201, AftersalesCaseSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def message(body, number):
    """Write to the shop in the request's thread."""
    case = _own(number)
    cases.post_message(case, _me(), body["body"])
    return case_json(case)


@blp.route("/cases/<number>/tracking", methods=["POST"])
@token_required
@limiter.limit(WRITE_LIMIT)
@blp.arguments(AftersalesTrackingSchema)
@blp.response(200, AftersalesCaseSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(409, schema=ApiErrorSchema, description="return_deadline_passed, concurrent_update")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def tracking(body, number):
    """Enter the return parcel's carrier and tracking number before the deadline."""
    return case_json(cases.enter_return_tracking(_own(number), _me(), body["carrier"], body["tracking_number"]))


# -- staff -------------------------------------------------------------------------------
def _case(number):
    return get_case_by_number(number)


_STAFF_ERRORS = [(403, "forbidden, escalated_owner_only"), (404, "not_found"),
                 (409, "concurrent_update, order_not_unshipped, not_refundable, not_a_return, "
                       "refund_exceeds_total, refund_exceeds_line, idempotency_conflict, credit_needs_account"),
                 (422, "validation_failed, amount_out_of_range")]


def _staff_errors(view):
    for status, codes in _STAFF_ERRORS:
        view = staff_blp.alt_response(status, schema=ApiErrorSchema, description=codes)(view)
    return view


@staff_blp.route("/cases", methods=["GET"])
@staff_required
@staff_blp.arguments(AftersalesQueueArgs, location="query")
@staff_blp.response(200, AftersalesStaffCaseSchema(many=True))
@staff_blp.alt_response(403, schema=ApiErrorSchema, description="forbidden")
def queue(args):
    """The queue: open requests oldest first unless filtered (50 a page)."""
    filters = QueueFilters.from_args({k: ("1" if v is True else "" if v is False else v) for k, v in args.items()})
    rows, _more = staff_queue(filters)
    return cases_json(rows, staff=True)


@staff_blp.route("/cases/<number>", methods=["GET"])
@staff_required
@staff_blp.response(200, AftersalesStaffCaseSchema)
@staff_blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
def staff_show(number):
    """A request with its timeline (including internal notes) and messages."""
    return case_json(_case(number), staff=True)


def _staff_action(path: str, schema, doc: str, run):
    def view(body, number):
        case = _case(number)
        run(case, body)
        return case_json(get_case_by_number(number), staff=True)

    view.__name__ = f"staff_{path}"
    view.__doc__ = doc
    view = _staff_errors(view)
    view = staff_blp.response(200, AftersalesStaffCaseSchema)(view)
    view = staff_blp.arguments(schema)(view)
    view = staff_required(view)
    staff_blp.route(f"/cases/<number>/{path}", methods=["POST"])(view)


_staff_action("approve", AftersalesApproveSchema, "Approve; returns get the return address (default: settings).",
              lambda c, b: actions.approve(c, _me(), return_address=b.get("return_address"),
                                           method=b.get("method")))
_staff_action("reject", AftersalesRejectSchema, "Decline with a reason shown to the buyer.",
              lambda c, b: actions.reject(c, _me(), b["reason"]))
_staff_action("arrive", AftersalesArriveSchema, "The return parcel arrived at the shop (inspection follows).",
              lambda c, b: actions.arrive(c, _me(), b.get("note") or ""))
_staff_action("inspect", AftersalesReceiveSchema, "The arrived goods were inspected; restock puts them back on sale.",
              lambda c, b: actions.inspect(c, _me(), b["inspection_result"], b.get("note") or ""))
_staff_action("receive", AftersalesReceiveSchema, "Arrival and inspection in one call (two timeline entries).",
              lambda c, b: actions.receive(c, _me(), b["inspection_result"], b.get("note") or ""))
_staff_action("refund", AftersalesRefundSchema, "Refund through the payment provider or as store credit "
              "(one refund per request: a repeated call is refused with concurrent_update).",
              lambda c, b: actions.refund(c, _me(), b.get("amount"), method=b.get("method")))
_staff_action("reship", AftersalesTrackingSchema, "Ship the replacement of an exchange.",
              lambda c, b: actions.reship(c, _me(), b["carrier"], b["tracking_number"]))
_staff_action("assign", AftersalesAssignSchema, "Assign to a staff member (null: nobody) and/or set the category.",
              lambda c, b: actions.assign(c, _me(), b.get("assignee_id"), b.get("category")))
_staff_action("note", AftersalesBodySchema, "Internal note (never shown to the buyer).",
              lambda c, b: actions.add_note(c, _me(), b["body"]))
_staff_action("message", AftersalesBodySchema, "Message to the buyer in the request's thread.",
              lambda c, b: cases.post_message(c, _me(), b["body"]))

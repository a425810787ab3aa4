"""JSON API of the order tracking plugin under ``/api/v1/tracking``.

- ``GET /orders/<number>``: the tracking of an order (bearer token: its buyer or staff).
- ``POST /lookup``: guest lookup by order number and phone/e-mail (rate limited, masked).
- ``POST /webhook``: the aggregator's push (same contract as ``/p/tracking/webhook``).
- ``POST /parcels/<id>/events``: staff add an event by hand.
"""
from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate

from storefront.api.common import ApiErrorSchema, Blueprint, UTCDateTime, staff_required, token_required
from storefront.clock import utcnow
from storefront.context_objects import user_object

from . import services, tracking, webhook
from .models import STATUSES

blp = Blueprint("order_tracking_api", __name__, url_prefix="/api/v1/tracking",
                description="Order tracking (plugin order_tracking)")


class EventSchema(Schema):
    at = UTCDateTime(required=True, metadata={"description": "UTC"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    location = fields.String(load_default="", validate=validate.Length(max=120))
    description = fields.String(load_default="", validate=validate.Length(max=500))


class EventOut(EventSchema):
    id = fields.Integer()
    source = fields.String()


class ParcelSchema(Schema):
    id = fields.Integer(allow_none=True)
    carrier = fields.String()
    tracking_number = fields.String()
    url = fields.String(allow_none=True, metadata={"description": "Carrier's tracking page"})
    last_status = fields.String()
    delivered_at = UTCDateTime(allow_none=True)
    stuck = fields.Boolean()
    events = fields.List(fields.Nested(EventOut))


class StepSchema(Schema):
    key = fields.String()
    label = fields.String()
    at = UTCDateTime(allow_none=True)
    done = fields.Boolean()


class TrackingSchema(Schema):
    number = fields.String()
    status = fields.String()
    ship_by = UTCDateTime(allow_none=True)
    promise_kept = fields.Boolean(allow_none=True)
    estimated_delivery = fields.Date(allow_none=True)
    stuck = fields.Boolean()
    steps = fields.List(fields.Nested(StepSchema))
    parcels = fields.List(fields.Nested(ParcelSchema))
    masked = fields.Dict(allow_none=True, metadata={"description": "Guest lookup only: masked name, phone, address"})


class LookupSchema(Schema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=32))
    contact = fields.String(required=True, validate=validate.Length(min=1, max=254),
                            metadata={"description": "Phone number or e-mail on the order"})


class WebhookBody(Schema):
    carrier = fields.String(required=True, metadata={"description": "Carrier code, e.g. sf"})
    tracking_number = fields.String(required=True)
    event_id = fields.String(required=True, metadata={"description": "Unique per event (idempotency)"})
    time = fields.String(required=True, metadata={"description": "ISO 8601 with offset"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    location = fields.String()
    description = fields.String()


class WebhookResult(Schema):
    status = fields.String(metadata={"description": "created | duplicate"})
    event_id = fields.String()


def _dump(view: tracking.TrackingView) -> dict:
    order = view.order
    return {
        "number": order.number, "status": str(order.status.value), "ship_by": view.ship_by,
        "promise_kept": view.promise_kept, "estimated_delivery": view.eta, "stuck": view.stuck,
        "steps": [vars(s) for s in view.steps],
        "parcels": [{"id": p.id, "carrier": p.carrier, "tracking_number": p.tracking_number, "url": p.url,
                     "last_status": p.last_status, "delivered_at": p.delivered_at, "stuck": p.stuck,
                     "events": p.events} for p in view.parcels],
        "masked": view.masked,
    }


@blp.get("/orders/<number>")
@blp.response(200, TrackingSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(401, schema=ApiErrorSchema)
@token_required
def order_tracking(number: str):
    """Tracking of one order: its buyer or staff (another buyer's order is 404)."""
    return _dump(tracking.tracking_view(tracking.order_for_viewer(user_object(), number)))


@blp.post("/lookup")
@blp.arguments(LookupSchema)
@blp.response(200, TrackingSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="Unknown order or wrong contact (same answer)")
@blp.alt_response(429, schema=ApiErrorSchema)
def lookup(data):
    """Guest lookup: order number + phone or e-mail on the order; address and phone masked."""
    order = tracking.guest_lookup(data["number"], data["contact"], request.remote_addr or "")
    return _dump(tracking.guest_view(order))


@blp.post("/webhook")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": WebhookBody}}},
         parameters=[{"in": "header", "name": webhook.TIMESTAMP_HEADER, "required": True,
                      "schema": {"type": "string"}, "description": "Unix seconds, within 5 minutes"},
                     {"in": "header", "name": webhook.SIGNATURE_HEADER, "required": True,
                      "schema": {"type": "string"},
                      "description": "sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>' with the webhook secret>"}])
@blp.response(201, WebhookResult)
@blp.alt_response(200, schema=WebhookResult, description="Duplicate event id: nothing written")
@blp.alt_response(400, schema=ApiErrorSchema)
@blp.alt_response(401, schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="unknown_parcel")
def webhook_push():
    """A tracking aggregator pushes one parcel event (HMAC-signed, replay-protected, idempotent)."""
    body, status = webhook.handle(request.headers, webhook.read_body(request), utcnow())
    return body, status


@blp.post("/parcels/<int:parcel_id>/events")
@blp.arguments(EventSchema)
@blp.response(201, EventOut)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@staff_required
def add_event(data, parcel_id: int):
    """Staff add a parcel event by hand."""
    return services.add_event(parcel_id, user_object(), data)

"""JSON API of the store pickup plugin under ``/api/v1/pickup`` (404 while disabled).

Public: active locations with hours, and a location's free pickup slots (the
``key`` goes into checkout ``extra.store_pickup_slot``). Staff (bearer
token): open pickups, mark ready, verify a code at a counter, a location's stock.
"""
from __future__ import annotations

from flask import abort
from marshmallow import Schema, fields, validate

from storefront.api.common import ApiErrorSchema, Blueprint, UTCDateTime, staff_required
from storefront.context_objects import signed_in_user, user_object

from . import pickups, services
from . import stock as stocklib
from .limits import verify_limit
from .slots import format_range

blp = Blueprint("store_pickup_api", __name__, url_prefix="/api/v1/pickup",
                description="Store pickup (plugin store_pickup)")


class LocationSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    city = fields.String()
    province = fields.String()
    phone = fields.String()
    map_url = fields.String()
    hours = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "Weekday (0 = Monday) -> 'HH:MM-HH:MM' shop time; missing = closed"})
    closed_dates = fields.List(fields.String())
    prep_minutes = fields.Integer()


class PlaceArgs(Schema):
    city = fields.String(load_default="", validate=validate.Length(max=80),
                         metadata={"description": "Nearest first: stores in this city, then this province"})
    province = fields.String(load_default="", validate=validate.Length(max=80))


class SlotSchema(Schema):
    key = fields.String(metadata={"description": "Send as extra.store_pickup_slot at checkout"})
    start = fields.String(metadata={"description": "Shop-local start, YYYY-MM-DDTHH:MM"})
    end = fields.String()
    start_utc = UTCDateTime()


class PickupSchema(Schema):
    id = fields.Integer()
    order_number = fields.String()
    location_id = fields.Integer()
    status = fields.String()
    slot_start_utc = UTCDateTime()
    contact_name = fields.String()
    reference = fields.String()


class VerifySchema(Schema):
    code = fields.String(required=True)


class StockSchema(Schema):
    sku_id = fields.Integer()
    sku_code = fields.String()
    product_name = fields.String()
    quantity = fields.Integer(allow_none=True, metadata={"description": "null = not tracked at this store"})


class StockUpdateSchema(Schema):
    sku = fields.String(required=True, metadata={"description": "SKU code or id"})
    quantity = fields.Integer(required=True, allow_none=True,
                              metadata={"description": "Count at this store; null stops tracking it"})
    expected = fields.Integer(allow_none=True, metadata={
        "description": "If given, write only if the store still holds this many (null = not tracked); "
                       "409 stock_changed otherwise"})


def _location_json(loc):
    return {"id": loc.id, "name": loc.name, "address": loc.address, "city": loc.city, "province": loc.province,
            "phone": loc.phone, "map_url": loc.map_url,
            "hours": {day: format_range(value) for day, value in (loc.hours or {}).items()},
            "closed_dates": list(loc.closed_dates or []), "prep_minutes": loc.prep_minutes}


def _pickup_json(p):
    return {"id": p.id, "order_number": p.order.number, "location_id": p.location_id, "status": p.status,
            "slot_start_utc": p.slot_start, "contact_name": p.contact_name, "reference": p.reference}


@blp.route("/locations", methods=["GET"])
@blp.arguments(PlaceArgs, location="query")
@blp.response(200, LocationSchema(many=True))
def locations(args):
    """Active pickup locations, nearest first for the ``city``/``province`` given, else for a
    signed-in buyer's own saved address."""
    buyer = signed_in_user()
    return [_location_json(loc) for loc in services.locations_for_buyer(buyer, address=args)]


@blp.route("/locations/<int:location_id>/slots", methods=["GET"])
@blp.response(200, SlotSchema(many=True))
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
def slots(location_id):
    """Pickup times of an active location that still have room."""
    location = services.get_location(location_id)
    if not location.active:
        abort(404)
    return [{"key": s.key, "start": s.local_start.strftime("%Y-%m-%dT%H:%M"),
             "end": s.local_end.strftime("%Y-%m-%dT%H:%M"), "start_utc": s.start}
            for s in services.available_slots(location)]


@blp.route("/pickups", methods=["GET"])
@staff_required
@blp.response(200, PickupSchema(many=True))
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@blp.alt_response(403, schema=ApiErrorSchema, description="forbidden")
def open_list():
    """Open pickups (preparing or ready), by pickup time."""
    return [_pickup_json(p) for p in pickups.open_pickups()]


@blp.route("/pickups/<int:pickup_id>/ready", methods=["POST"])
@staff_required
@blp.response(200, PickupSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(409, schema=ApiErrorSchema, description="pickup_not_ready_able")
def ready(pickup_id):
    """Mark a paid pickup order ready: draws its code and notifies the buyer."""
    return _pickup_json(pickups.mark_ready(pickup_id, user_object()))


@blp.route("/locations/<int:location_id>/verify", methods=["POST"])
@staff_required
@verify_limit
@blp.arguments(VerifySchema)
@blp.response(200, PickupSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="pickup_code_unknown")
@blp.alt_response(409, schema=ApiErrorSchema, description="pickup_already_collected")
@blp.alt_response(429, schema=ApiErrorSchema, description="too_many_attempts")
def verify(body, location_id):
    """Hand over the order waiting with ``code`` at this location (exactly once)."""
    return _pickup_json(pickups.verify_code(location_id, body["code"], user_object()))


def _stock_json(sku, quantity):
    return {"sku_id": sku.id, "sku_code": sku.code, "product_name": sku.product.name, "quantity": quantity}


@blp.route("/locations/<int:location_id>/stock", methods=["GET"])
@staff_required
@blp.response(200, StockSchema(many=True))
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@blp.alt_response(403, schema=ApiErrorSchema, description="forbidden")
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
def stock_list(location_id):
    """The SKUs tracked at a location with their counts (SKUs not listed are not tracked)."""
    location = services.get_location(location_id)
    return [_stock_json(row.sku, row.quantity) for row in stocklib.rows_for(location.id)]


@blp.route("/locations/<int:location_id>/stock", methods=["PUT"])
@staff_required
@blp.arguments(StockUpdateSchema)
@blp.response(200, StockSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found / sku_unknown")
@blp.alt_response(409, schema=ApiErrorSchema, description="stock_changed")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def stock_set(body, location_id):
    """Set a location's count of a SKU, or stop tracking it (``quantity: null``)."""
    location = services.get_location(location_id)
    check = "expected" in body
    sku, row = stocklib.update_stock(location.id, body["sku"], body["quantity"], body.get("expected"), check=check,
                                     actor=user_object())
    return _stock_json(sku, row.quantity if row is not None else None)

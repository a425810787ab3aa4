"""JSON API of the money side under ``/api/v1/aftersales/money`` (404 while the plugin is disabled).

Buyer (bearer token): own store credit balance and ledger. Staff: metrics,
registries (list, add, parcel status, quality flags), a buyer's credit and
adjustments. Amounts are integer minor units.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from storefront.api.common import ApiErrorSchema, Blueprint, UTCDateTime, money_json, staff_required, token_required
from storefront.clock import utcnow
from storefront.context_objects import user_object

from . import credit, metrics, registries

blp = Blueprint("aftersales_money_api", __name__, url_prefix="/api/v1/aftersales/money",
                description="After-sales money: store credit, metrics, registries (plugin aftersales)")


class MoneyOut(Schema):
    amount = fields.Integer()
    currency = fields.String()
    decimal = fields.String()


class EntrySchema(Schema):
    id = fields.Integer()
    amount = fields.Nested(MoneyOut)
    kind = fields.String(metadata={"description": "compensation | checkout | checkout_return | adjustment | refund"})
    order_id = fields.Integer(allow_none=True)
    note = fields.String()
    created_at = UTCDateTime()


class CreditSchema(Schema):
    balance = fields.Nested(MoneyOut)
    use_at_checkout = fields.Boolean()
    entries = fields.List(fields.Nested(EntrySchema))
    next_before = fields.Integer(allow_none=True, metadata={"description": "Pass as ?before= for older entries"})


class PageArgs(Schema):
    before = fields.Integer(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AdjustSchema(Schema):
    amount = fields.String(required=True, metadata={"description": "Decimal text; negative deducts, e.g. '-5.50'"})
    note = fields.String(required=True)
    idempotency_key = fields.String(required=True, validate=validate.Length(min=8, max=80))


class DaysArgs(Schema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=366))


class MonthArgs(Schema):
    month = fields.String(load_default=None, metadata={"description": "YYYY-MM, shop time; default this month"})
    carrier = fields.String(load_default=None)


class WrongShipmentIn(Schema):
    order_number = fields.String(required=True)
    case_id = fields.Integer(load_default=None)
    expected_item = fields.String(load_default="")
    sent_item = fields.String(load_default="")
    quantity = fields.Integer(load_default=1)
    resolution = fields.String(load_default="other", metadata={"description": "reship | exchange | refund | other"})
    cost = fields.Integer(load_default=0, metadata={"description": "Minor units"})
    note = fields.String(load_default="")


class WrongShipmentOut(Schema):
    id = fields.Integer()
    order_number = fields.String()
    case_id = fields.Integer(allow_none=True)
    expected_item = fields.String()
    sent_item = fields.String()
    quantity = fields.Integer()
    resolution = fields.String()
    cost = fields.Integer()
    currency = fields.String()
    note = fields.String()
    created_at = UTCDateTime()


class ParcelIn(Schema):
    order_number = fields.String(required=True)
    case_id = fields.Integer(load_default=None)
    kind = fields.String(required=True, metadata={"description": "lost | damaged"})
    carrier = fields.String(load_default="")
    tracking_number = fields.String(load_default="")
    paid_to_buyer = fields.Integer(load_default=0, metadata={"description": "Minor units"})
    claimed_from_carrier = fields.Integer(load_default=0, metadata={"description": "Minor units"})
    note = fields.String(load_default="")


class ParcelOut(Schema):
    id = fields.Integer()
    order_number = fields.String()
    case_id = fields.Integer(allow_none=True)
    kind = fields.String()
    carrier = fields.String()
    tracking_number = fields.String()
    paid_to_buyer = fields.Integer()
    claimed_from_carrier = fields.Integer()
    currency = fields.String()
    status = fields.String()
    note = fields.String()
    created_at = UTCDateTime()


class ParcelStatusIn(Schema):
    status = fields.String(required=True, metadata={"description": "open | claimed | settled | rejected"})


class QualityFlagOut(Schema):
    product_id = fields.Integer()
    name = fields.String()
    complaints = fields.Integer()
    latest = UTCDateTime()


def _entry_json(e) -> dict:
    return {"id": e.id, "amount": money_json(e.amount, e.currency), "kind": e.kind, "order_id": e.order_id,
            "note": e.note, "created_at": e.created_at}


def _credit_json(user_id: int, before, limit) -> dict:
    entries, next_before = credit.ledger(user_id, before=before, limit=limit)
    return {"balance": money_json(credit.balance(user_id), credit.shop_currency()),
            "use_at_checkout": credit.uses_credit_at_checkout(user_id),
            "entries": [_entry_json(e) for e in entries], "next_before": next_before}


def _staff():
    return user_object()


@blp.route("/credit", methods=["GET"])
@token_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, CreditSchema)
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
def my_credit(args):
    """The signed-in buyer's store credit balance and ledger (newest first)."""
    return _credit_json(user_object().id, args["before"], args["limit"])


@blp.route("/buyers/<int:user_id>/credit", methods=["GET"])
@staff_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, CreditSchema)
@blp.alt_response(403, schema=ApiErrorSchema, description="forbidden")
def buyer_credit(args, user_id):
    """A buyer's store credit (staff)."""
    return _credit_json(user_id, args["before"], args["limit"])


@blp.route("/buyers/<int:user_id>/credit", methods=["POST"])
@staff_required
@blp.arguments(AdjustSchema)
@blp.response(201, EntrySchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(409, schema=ApiErrorSchema, description="insufficient_credit / idempotency_conflict")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def adjust_credit(body, user_id):
    """Give (positive) or deduct (negative) store credit with a reason the buyer sees; idempotent by key."""
    entry = credit.adjust_by_staff(_staff(), user_id, body["amount"], body["note"], body["idempotency_key"])
    return _entry_json(entry)


@blp.route("/metrics", methods=["GET"])
@staff_required
@blp.arguments(DaysArgs, location="query")
@blp.response(200)
@blp.alt_response(403, schema=ApiErrorSchema, description="forbidden")
def metrics_json(args):
    """After-sales metrics per shop-local day and over the window (rates in basis points, times in seconds)."""
    from .credit import _settings

    minutes = int(_settings().get("first_response_minutes", 5))
    return metrics.as_json(metrics.report(utcnow(), args["days"], first_response_minutes=minutes))


@blp.route("/registries/wrong-shipments", methods=["GET"])
@staff_required
@blp.arguments(MonthArgs, location="query")
@blp.response(200, WrongShipmentOut(many=True))
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def wrong_shipment_list(args):
    """The wrong-shipment log of a month."""
    rows, _label = registries.wrong_shipments(args["month"])
    return rows


@blp.route("/registries/wrong-shipments", methods=["POST"])
@staff_required
@blp.arguments(WrongShipmentIn)
@blp.response(201, WrongShipmentOut)
@blp.alt_response(409, schema=ApiErrorSchema, description="already_logged")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def wrong_shipment_add(body):
    """Log a wrong shipment (optionally from a wrong-item request: ``case_id``)."""
    return registries.log_wrong_shipment(_staff(), body)


@blp.route("/registries/parcels", methods=["GET"])
@staff_required
@blp.arguments(MonthArgs, location="query")
@blp.response(200, ParcelOut(many=True))
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def parcel_list(args):
    """The lost/damaged-parcel log of a month (optionally one carrier)."""
    rows, _label, _totals = registries.parcel_claims(args["month"], args["carrier"])
    return rows


@blp.route("/registries/parcels", methods=["POST"])
@staff_required
@blp.arguments(ParcelIn)
@blp.response(201, ParcelOut)
@blp.alt_response(409, schema=ApiErrorSchema, description="already_logged")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def parcel_add(body):
    """Log a lost or damaged parcel (optionally from a damaged / not-received request: ``case_id``)."""
    return registries.log_parcel_claim(_staff(), body)


@blp.route("/registries/parcels/<int:claim_id>/status", methods=["POST"])
@staff_required
@blp.arguments(ParcelStatusIn)
@blp.response(200, ParcelOut)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def parcel_status(body, claim_id):
    """Move a parcel claim along the carrier reckoning (open, claimed, settled, rejected)."""
    return registries.set_parcel_status(_staff(), claim_id, body["status"])


@blp.route("/registries/quality-flags", methods=["GET"])
@staff_required
@blp.response(200, QualityFlagOut(many=True))
def quality_flags():
    """Products with at least the configured number of quality requests in the last 30 days."""
    from .credit import _settings

    return registries.quality_flags(utcnow(), int(_settings().get("quality_flag_threshold", 3)))

"""API: checkout preview, placing orders and the test provider's payment.

Bodies ignore unknown fields (``unknown = EXCLUDE``): a client sending
``price``, ``total``, ``status`` or ``user_id`` changes nothing; the server
prices everything itself.
"""
from __future__ import annotations

from flask import request, url_for
from marshmallow import EXCLUDE, Schema, fields

from ..checkout import buy_now as direct
from ..checkout import services
from ..checkout.pricing import order_breakdown
from ..context_objects import user_object
from ..payments import services as payments
from ..payments.providers import TestProvider
from ..orders.transitions import Actor
from .cart import PriceBreakdownSchema
from .common import ApiErrorSchema, Blueprint, MoneySchema, UTCDateTime, money_json, token_required

blp = Blueprint("api_checkout", __name__, url_prefix="", description="checkout")


class CheckoutPreviewArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    delivery_code = fields.String()
    address_id = fields.Integer()


class CheckoutDeliveryOptionSchema(Schema):
    code = fields.String()
    label = fields.String()
    fee = fields.Nested(MoneySchema)
    description = fields.String()
    needs_address = fields.Boolean()
    source = fields.String()


class CheckoutGroupSchema(Schema):
    key = fields.String()
    label = fields.String()
    ship_promise = fields.String(allow_none=True)
    sku_ids = fields.List(fields.Integer())
    breakdown = fields.Nested(PriceBreakdownSchema)


class CheckoutProblemSchema(Schema):
    code = fields.String()
    message = fields.String()
    source = fields.String()
    field = fields.String(allow_none=True)


class CheckoutPreviewSchema(Schema):
    breakdown = fields.Nested(PriceBreakdownSchema)
    delivery_options = fields.List(fields.Nested(CheckoutDeliveryOptionSchema))
    groups = fields.List(fields.Nested(CheckoutGroupSchema), metadata={"description": "Orders this checkout becomes"})
    problems = fields.List(fields.Nested(CheckoutProblemSchema), metadata={"description": "Any problem blocks placing"})
    can_place = fields.Boolean()


class CheckoutPlaceSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # price/total/status/user_id are ignored, never honoured

    idempotency_key = fields.String(metadata={"description": "Unique per checkout attempt (or Idempotency-Key header)"})
    delivery_code = fields.String()
    address_id = fields.Integer(strict=True, metadata={"description": "One of the buyer's saved addresses"})
    name = fields.String()
    phone = fields.String()
    province = fields.String()
    city = fields.String()
    district = fields.String()
    line1 = fields.String()
    postcode = fields.String()
    note = fields.String()
    extra = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Plugin choices, keys prefixed with the plugin name (e.g. store_pickup_slot)"})


class BuyNowSchema(CheckoutPlaceSchema):
    sku_id = fields.Integer(required=True, strict=True, metadata={"description": "The SKU to buy"})
    quantity = fields.Integer(load_default=1, strict=True, metadata={"description": "1 to the line limit"})


class CheckoutOrderSchema(Schema):
    number = fields.String()
    status = fields.String()
    total = fields.Nested(MoneySchema)
    pay_deadline = UTCDateTime(allow_none=True, metadata={"description": "Naive UTC"})
    breakdown = fields.Nested(PriceBreakdownSchema)


class CheckoutPaymentSchema(Schema):
    reference = fields.String()
    status = fields.String()
    provider = fields.String()
    amount = fields.Nested(MoneySchema)
    pay_url = fields.String()
    orders = fields.List(fields.Nested(CheckoutOrderSchema))


class CheckoutPlacedSchema(Schema):
    created = fields.Boolean(metadata={"description": "False when an earlier submission with this key is returned"})
    payment = fields.Nested(CheckoutPaymentSchema)


def _errors(*pairs):
    def decorate(view):
        for status, description in pairs:
            view = blp.alt_response(status, schema=ApiErrorSchema, description=description)(view)
        return view
    return decorate


def _payment_json(payment):
    orders = list(payment.orders)
    return {
        "reference": payment.reference, "status": str(payment.status), "provider": payment.provider,
        "amount": money_json(payment.amount, payment.currency),
        "pay_url": url_for("payments.pay_page", reference=payment.reference),
        "orders": [{"number": o.number, "status": str(o.status), "total": money_json(o.total, o.currency),
                    "pay_deadline": o.pay_deadline, "breakdown": order_breakdown(o).to_json()} for o in orders],
    }


@blp.route("/checkout", methods=["GET"])
@token_required
@blp.arguments(CheckoutPreviewArgs, location="query")
@blp.response(200, CheckoutPreviewSchema)
@_errors((401, "Missing or bad bearer token"), (404, "not_found: unknown address"))
def preview(args):
    """Preview: breakdown, delivery options, how the cart splits into orders, blocking problems."""
    draft = services.prepare_checkout(user_object(), delivery_code=args.get("delivery_code"),
                                      address_id=args.get("address_id"))
    currency = draft.breakdown.currency
    return {
        "breakdown": draft.breakdown.to_json(),
        "delivery_options": [{"code": o.code, "label": str(o.label), "fee": money_json(o.fee, currency),
                              "description": str(o.description), "needs_address": o.needs_address,
                              "source": o.source} for o in draft.delivery_options],
        "groups": [{"key": g.key, "label": g.label, "ship_promise": g.ship_promise, "sku_ids": list(g.sku_ids),
                    "breakdown": b.to_json()} for g, b in zip(draft.groups, draft.group_breakdowns)],
        "problems": [{"code": p.code, "message": str(p.message), "source": p.source, "field": p.field}
                     for p in draft.problems],
        "can_place": not draft.problems,
    }


@blp.route("/checkout", methods=["POST"])
@token_required
@blp.arguments(CheckoutPlaceSchema)
@blp.response(201, CheckoutPlacedSchema)
@blp.alt_response(200, schema=CheckoutPlacedSchema, description="Same idempotency key: the first checkout")
@_errors((401, "Missing or bad bearer token"), (404, "not_found: unknown address"),
         (409, "out_of_stock / cart_changed / idempotency_conflict"),
         (422, "validation_failed / checkout_blocked (details.problems)"))
def place(body):
    """Place the cart: one payment and one or more orders. Idempotent by key."""
    return _placed(services.place_order(user_object(), **_checkout_choices(body)))


def _checkout_choices(body) -> dict:
    """``place_order``'s keyword arguments from a checkout body (a saved address id, or typed fields)."""
    address_id = body.get("address_id")
    address = None if address_id else {k: body.get(k) for k in services.ADDRESS_FIELDS if k in body}
    return {"idempotency_key": body.get("idempotency_key") or request.headers.get("Idempotency-Key"),
            "delivery_code": body.get("delivery_code"), "address_id": address_id, "address": address or None,
            "note": body.get("note") or "", "extra": body.get("extra") or None}


def _placed(result):
    return {"created": result.created, "payment": _payment_json(result.payment)}, 201 if result.created else 200


@blp.route("/checkout/buy-now", methods=["POST"])
@token_required
@blp.arguments(BuyNowSchema)
@blp.response(201, CheckoutPlacedSchema)
@blp.alt_response(200, schema=CheckoutPlacedSchema, description="Same idempotency key: the first checkout")
@_errors((401, "Missing or bad bearer token"), (404, "not_found: unknown SKU or address"),
         (409, "out_of_stock / idempotency_conflict"),
         (422, "validation_failed / unavailable / coupon_unusable / checkout_blocked (details.problems)"),
         (429, "rate_limited: too many coupon codes tried"))
def buy_now(body):
    """Buy now (立即购买): one SKU placed as its own checkout in one request; the cart is untouched.

    Priced and checked exactly like ``POST /checkout``; plugin choices go in ``extra``
    (``coupons_code``: a coupon code, rate-limited like the cart's code box; ``coupons_none``:
    "1" for no coupon, else the wallet's best one applies). Idempotent by key.
    """
    return _placed(direct.buy_now(user_object(), sku_id=body["sku_id"],
                                  quantity=body.get("quantity", 1), **_checkout_choices(body)))


@blp.route("/payments/<reference>", methods=["GET"])
@token_required
@blp.response(200, CheckoutPaymentSchema)
@_errors((401, "Missing or bad bearer token"), (404, "not_found"))
def get_payment(reference):
    """One of the buyer's payments with its orders."""
    return _payment_json(payments.payment_for_buyer(user_object(), reference))


@blp.route("/payments/<reference>/pay-test", methods=["POST"])
@token_required
@blp.response(200, CheckoutPaymentSchema)
@_errors((401, "Missing or bad bearer token"), (404, "not_found"), (409, "provider_mismatch / already_paid"))
def pay_test(reference):
    """Pay one of the buyer's own payments with the simulated test provider (idempotent)."""
    payment = payments.payment_for_buyer(user_object(), reference)
    # The payment was checked to be the buyer's; confirming returns the same object.
    payment = payments.confirm_payment(TestProvider.provider_ref_for(payment), payment.amount,
                                       payment_reference=payment.reference, provider_name=TestProvider.name,
                                       actor=Actor.of(user_object()), payment=payment)
    return _payment_json(payment)

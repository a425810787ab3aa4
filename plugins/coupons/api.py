"""JSON API of the coupons plugin.

Buyer (bearer token) under ``/api/v1/coupons``: apply/remove a code on the
cart, use a wallet coupon, claim, list the wallet. Staff under
``/api/v1/admin/coupons``: CRUD, pause, duplicate, generate codes, stats.
Both answer 404 while the plugin is disabled.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from storefront.api.common import ApiErrorSchema, Blueprint, UTCDateTime, staff_required, token_required
from storefront.cart.services import find_cart
from storefront.context_objects import user_object
from storefront.extensions import limiter
from storefront.models_base import MAX_ROW_ID

from . import admin_services as svc
from . import services
from .buyer import CODE_ATTEMPTS, _attempt_limit, _buyer_key
from .models import KINDS
from .rules import describe

blp = Blueprint("coupons_api", __name__, url_prefix="/api/v1/coupons", description="Coupons (plugin coupons)")
admin_blp = Blueprint("coupons_admin_api", __name__, url_prefix="/api/v1/admin/coupons",
                      description="Coupons administration (plugin coupons, staff)")


class CouponsCouponSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True)
    code = fields.String(allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    percent_bp = fields.Integer(metadata={"description": "Basis points: 1000 = 10 %"})
    max_discount = fields.Integer(metadata={"description": "Minor units; 0 = no cap"})
    amount = fields.Integer(metadata={"description": "Minor units"})
    step = fields.Integer(metadata={"description": "Repeating: every step spent (minor units)"})
    tiers = fields.List(fields.List(fields.Integer()), metadata={"description": "[[spend, off], ...] minor units"})
    min_spend = fields.Integer()
    product_ids = fields.List(fields.Integer())
    exclude_presale = fields.Boolean()
    exclude_discounted = fields.Boolean()
    starts_at = UTCDateTime(allow_none=True)
    ends_at = UTCDateTime(allow_none=True)
    total_quantity = fields.Integer(allow_none=True)
    per_buyer_limit = fields.Integer(allow_none=True)
    claimable = fields.Boolean()
    claim_quota = fields.Integer(allow_none=True)
    single_use_codes = fields.Boolean()
    active = fields.Boolean()
    used = fields.Integer(dump_only=True)
    claimed = fields.Integer(dump_only=True)
    rule = fields.Function(lambda c: describe(c), dump_only=True)


class CouponsPatchSchema(CouponsCouponSchema):
    name = fields.String()
    kind = fields.String(validate=validate.OneOf(KINDS))


class CouponsBriefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    rule = fields.Function(lambda c: describe(c))
    starts_at = UTCDateTime(allow_none=True)
    ends_at = UTCDateTime(allow_none=True)
    active = fields.Boolean()


class CouponsCodeSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(max=80))


class CouponsClaimSchema(Schema):
    coupon_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))


class CouponsUseSchema(Schema):
    wallet_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))


class CouponsWalletSchema(Schema):
    id = fields.Integer()
    used = fields.Function(lambda row: row.used_at is not None)
    claimed_at = UTCDateTime()
    coupon = fields.Nested(CouponsBriefSchema)


class CouponsAppliedSchema(Schema):
    coupon_id = fields.Integer()
    name = fields.String()
    rule = fields.String()


class CouponsGenerateSchema(Schema):
    count = fields.Integer(required=True, validate=validate.Range(min=1, max=svc.MAX_BATCH))


class CouponsCodesSchema(Schema):
    codes = fields.List(fields.String())


class CouponsStatsSchema(Schema):
    claimed = fields.Integer()
    used = fields.Integer()
    discount = fields.Integer(metadata={"description": "Minor units"})
    revenue = fields.Integer(metadata={"description": "Total of the orders using it, minor units"})


def _applied(coupon) -> dict:
    return {"coupon_id": coupon.id, "name": coupon.name, "rule": describe(coupon)}


# --- buyer ----------------------------------------------------------------------------------------

@blp.post("/apply")
@limiter.shared_limit(_attempt_limit, CODE_ATTEMPTS, key_func=_buyer_key)
@blp.arguments(CouponsCodeSchema)
@blp.response(200, CouponsAppliedSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@token_required
def apply_code(args):
    """Apply a coupon code to the buyer's cart (case-, space- and full-width-insensitive; rate-limited)."""
    buyer = user_object()
    return _applied(services.apply_code(buyer, find_cart(buyer), args["code"]))


@blp.delete("/apply")
@blp.response(204)
@token_required
def remove_code():
    """No coupon on the buyer's cart."""
    buyer = user_object()
    services.remove_coupon(buyer, find_cart(buyer))
    return None


@blp.post("/use")
@blp.arguments(CouponsUseSchema)
@blp.response(200, CouponsAppliedSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@token_required
def use_wallet(args):
    """Use a coupon of the buyer's wallet on the cart."""
    buyer = user_object()
    return _applied(services.choose_wallet_coupon(buyer, find_cart(buyer), args["wallet_id"]))


@blp.post("/claim")
@limiter.limit("30/minute")
@blp.arguments(CouponsClaimSchema)
@blp.response(201, CouponsWalletSchema)
@blp.alt_response(409, schema=ApiErrorSchema)
@token_required
def claim(args):
    """Claim a claimable coupon into the wallet (claim quota and per-buyer limit enforced)."""
    return services.claim(user_object(), args["coupon_id"])


@blp.get("/wallet")
@blp.response(200, CouponsWalletSchema(many=True))
@token_required
def wallet():
    """The buyer's claimed coupons, newest first."""
    return services.wallet_rows(user_object(), unused_only=False)


@blp.get("/claimable")
@blp.response(200, CouponsBriefSchema(many=True))
def claimable():
    """Coupons anyone can claim now."""
    return services.claimable_coupons()


# --- staff ----------------------------------------------------------------------------------------

@admin_blp.get("/")
@admin_blp.response(200, CouponsCouponSchema(many=True))
@staff_required
def list_coupons():
    """Coupons, newest first (keyset: ``?after=<id>``)."""
    from flask import request

    try:
        after = int(request.args.get("after", "")) or None
    except ValueError:
        after = None
    return svc.list_coupons(after=after)


@admin_blp.post("/")
@admin_blp.arguments(CouponsCouponSchema)
@admin_blp.response(201, CouponsCouponSchema)
@admin_blp.alt_response(422, schema=ApiErrorSchema)
@staff_required
def create_coupon(payload):
    return svc.create_coupon(payload, actor=user_object())


@admin_blp.get("/<int:coupon_id>")
@admin_blp.response(200, CouponsCouponSchema)
@staff_required
def get_coupon(coupon_id):
    return svc.get_coupon(coupon_id)


@admin_blp.patch("/<int:coupon_id>")
@admin_blp.arguments(CouponsPatchSchema)
@admin_blp.response(200, CouponsCouponSchema)
@admin_blp.alt_response(422, schema=ApiErrorSchema)
@staff_required
def update_coupon(payload, coupon_id):
    """Change some fields (``active: false`` pauses it)."""
    return svc.update_coupon(coupon_id, payload, actor=user_object())


@admin_blp.post("/<int:coupon_id>/duplicate")
@admin_blp.response(201, CouponsCouponSchema)
@staff_required
def duplicate_coupon(coupon_id):
    return svc.duplicate_coupon(coupon_id, actor=user_object())


@admin_blp.post("/<int:coupon_id>/codes")
@admin_blp.arguments(CouponsGenerateSchema)
@admin_blp.response(201, CouponsCodesSchema)
@admin_blp.alt_response(422, schema=ApiErrorSchema)
@staff_required
def generate_codes(payload, coupon_id):
    """Generate unique single-use codes (the coupon must use single-use codes)."""
    return {"codes": svc.generate_codes(coupon_id, payload["count"], actor=user_object())}


@admin_blp.get("/<int:coupon_id>/stats")
@admin_blp.response(200, CouponsStatsSchema)
@staff_required
def coupon_stats(coupon_id):
    coupon = svc.get_coupon(coupon_id)
    return svc.stats([coupon.id])[coupon.id]

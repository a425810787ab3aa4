"""JSON API of the presale plugin.

``/api/v1/presale`` (404 while disabled): a product's presale terms
(public) and the seller's campaigns (staff bearer token): list with
statistics, create, edit, set a quota.

``/api/v1/presale/orders`` (bearer token, the buyer's own orders): an
order's presale terms (including what cancelling now does to a paid
deposit), the balance payment and the cancellation of a deposit-paid order
(``{"confirm": true}``). These stay up while the
plugin is disabled so existing deposit orders can still be paid; an order
without a presale record answers 404.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from storefront.api.common import (ApiErrorSchema, Blueprint, MoneySchema, UTCDateTime, money_json, staff_required,
                                   token_required)
from storefront.catalog.models import Product
from storefront.clock import utcnow
from storefront.context_objects import signed_in_user, user_object
from storefront.errors import NotFound
from storefront.extensions import db
from storefront.orders.queries import get_buyer_order
from storefront.payments.services import start_payment

from . import campaigns, lookup, services
from .times import end_of_local_day

blp = Blueprint("presale_api", __name__, url_prefix="/api/v1/presale", description="Presale (plugin presale)")
orders_blp = Blueprint("presale_orders_api", __name__, url_prefix="/api/v1/presale/orders",
                       description="Presale orders: terms and balance payment (plugin presale)")


class PresaleSkuTermsSchema(Schema):
    sku_id = fields.Integer()
    mode = fields.String(metadata={"description": "full | deposit"})
    ship_promise = fields.String(metadata={"description": "Exact promise, in the reader's language"})
    ship_by = UTCDateTime(allow_none=True, metadata={"description": "Fixed promise: deadline (UTC)"})
    ship_within_days = fields.Integer(allow_none=True)
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    price = fields.Nested(MoneySchema, allow_none=True)
    deposit = fields.Nested(MoneySchema, allow_none=True)
    deposit_value = fields.Nested(MoneySchema, allow_none=True)
    balance_opens_at = UTCDateTime(allow_none=True)
    balance_closes_at = UTCDateTime(allow_none=True)
    deposit_returned_if_unpaid = fields.Boolean()
    per_buyer_limit = fields.Integer(allow_none=True)
    remaining = fields.Integer()
    blocked_reason = fields.String(allow_none=True)


class PresaleOrderTermsSchema(Schema):
    order_number = fields.String()
    mode = fields.String()
    ship_promise = fields.String()
    ship_by = UTCDateTime(allow_none=True)
    deposit = fields.Nested(MoneySchema)
    deposit_value = fields.Nested(MoneySchema)
    paid = fields.Nested(MoneySchema)
    balance_due = fields.Nested(MoneySchema, allow_none=True)
    balance_opens_at = UTCDateTime(allow_none=True)
    balance_closes_at = UTCDateTime(allow_none=True)
    balance_state = fields.String(allow_none=True, metadata={
        "description": "deposit_due | waiting | open | closed | paid | order_closed (deposit mode)"})
    deposit_returned_if_unpaid = fields.Boolean()
    cancel_now = fields.Dict(allow_none=True, metadata={
        "description": "Deposit paid, balance not: what cancelling now does, "
                       '{"deposit": Money, "deposit_kept": bool}; cancel with POST .../cancel'})


class PresaleCancelBodySchema(Schema):
    confirm = fields.Boolean(required=True, metadata={
        "description": "true: the buyer saw cancel_now (whether the deposit is kept) and confirms"})


class PresaleBalanceBodySchema(Schema):
    idempotency_key = fields.String(required=True, validate=validate.Length(min=8, max=80))


class PresaleBalancePaymentSchema(Schema):
    reference = fields.String()
    status = fields.String()
    amount = fields.Nested(MoneySchema)
    pay_url = fields.String()


class PresaleCampaignSchema(Schema):
    id = fields.Integer(dump_only=True)
    product_id = fields.Integer(required=True)
    mode = fields.String(validate=validate.OneOf(["full", "deposit"]))
    starts_at = UTCDateTime(required=True, metadata={"description": "UTC"})
    ends_at = UTCDateTime(required=True)
    promise_kind = fields.String(validate=validate.OneOf(["date", "days"]))
    ship_by_date = fields.Date(allow_none=True, metadata={"description": "Shop-local date"})
    ship_within_days = fields.Integer(allow_none=True)
    price = fields.Integer(allow_none=True, metadata={"description": "Minor units; null = the SKU price"})
    per_buyer_limit = fields.Integer(allow_none=True)
    deposit = fields.Integer(allow_none=True)
    deposit_value = fields.Integer(allow_none=True)
    balance_opens_at = UTCDateTime(allow_none=True)
    balance_closes_at = UTCDateTime(allow_none=True)
    return_deposit = fields.Boolean()
    active = fields.Boolean()
    quotas = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "SKU id -> presale quota"})


class PresaleCampaignPatchSchema(PresaleCampaignSchema):
    """Only the fields being changed."""


class PresaleCampaignRowSchema(Schema):
    campaign = fields.Nested(PresaleCampaignSchema)
    quota = fields.Integer()
    sold = fields.Integer()
    remaining = fields.Integer()
    deposits_paid = fields.Integer()
    balances_paid = fields.Integer()
    balances_outstanding = fields.Integer()
    at_risk = fields.Integer()
    overdue = fields.Integer()
    skus = fields.List(fields.Dict())


class PresaleQuotaBodySchema(Schema):
    quota = fields.Integer(required=True)


def _money(amount, currency=None):
    if amount is None:
        return None
    from flask import current_app

    return money_json(int(amount), currency or current_app.config["STOREFRONT_CURRENCY"])


def _campaign_json(c) -> dict:
    return {"id": c.id, "product_id": c.product_id, "mode": c.mode, "starts_at": c.starts_at, "ends_at": c.ends_at,
            "promise_kind": c.promise_kind, "ship_by_date": c.ship_by_date, "ship_within_days": c.ship_within_days,
            "price": c.price, "per_buyer_limit": c.per_buyer_limit, "deposit": c.deposit,
            "deposit_value": c.deposit_value, "balance_opens_at": c.balance_opens_at,
            "balance_closes_at": c.balance_closes_at, "return_deposit": c.return_deposit, "active": c.active,
            "quotas": {str(q.sku_id): q.quota for q in c.quotas}}


@blp.route("/products/<slug>", methods=["GET"])
@blp.response(200, PresaleSkuTermsSchema(many=True))
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
def product_terms(slug):
    """Presale terms of a product's SKUs now on (or soon on) presale; empty when none."""
    product = db.session.execute(db.select(Product).where(Product.slug == str(slug)[:120])).scalar_one_or_none()
    if product is None or not product.active:
        raise NotFound("Product not found.")
    buyer = signed_in_user()
    now = utcnow()
    rows = []
    lookup.prefetch_campaigns([sku.id for sku in product.skus if sku.active], now)  # one query, not one per SKU
    for sku in product.skus:
        found = lookup.campaign_for_sku(sku.id, now) if sku.active else None
        if found is None:
            continue
        c, quota = found
        state = services.availability(c, quota, buyer, now)
        rows.append({"sku_id": sku.id, "mode": c.mode, "ship_promise": services.campaign_promise(c),
                     "ship_by": end_of_local_day(c.ship_by_date) if c.ship_by_date else None,
                     "ship_within_days": c.ship_within_days, "starts_at": c.starts_at, "ends_at": c.ends_at,
                     "price": _money(c.price if c.price is not None else sku.price),
                     "deposit": _money(c.deposit), "deposit_value": _money(c.deposit_value),
                     "balance_opens_at": c.balance_opens_at, "balance_closes_at": c.balance_closes_at,
                     "deposit_returned_if_unpaid": bool(c.return_deposit), "per_buyer_limit": c.per_buyer_limit,
                     "remaining": state.available, "blocked_reason": state.blocked})
    return rows


@blp.route("/campaigns", methods=["GET"])
@staff_required
@blp.response(200, PresaleCampaignRowSchema(many=True))
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@blp.alt_response(403, schema=ApiErrorSchema, description="forbidden")
def campaign_list():
    """Every presale with quota, sold, deposits paid, balances paid/outstanding, at-risk and overdue orders."""
    return [{"campaign": _campaign_json(r.campaign), "quota": r.quota, "sold": r.sold, "remaining": r.remaining,
             "deposits_paid": r.deposits_paid, "balances_paid": r.balances_paid,
             "balances_outstanding": r.balances_outstanding, "at_risk": r.at_risk, "overdue": r.overdue,
             "skus": [{"sku_id": q.sku_id, "quota": q.quota, "sold": q.sold} for q in r.campaign.quotas]}
            for r in campaigns.campaign_stats(campaigns.list_campaigns())]


@blp.route("/campaigns", methods=["POST"])
@staff_required
@blp.arguments(PresaleCampaignSchema)
@blp.response(201, PresaleCampaignSchema)
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
@blp.alt_response(403, schema=ApiErrorSchema, description="forbidden")
def campaign_create(body):
    """Put a product (some or all SKUs, by ``quotas``) on presale."""
    return _campaign_json(campaigns.create_campaign(body, user_object())), 201


@blp.route("/campaigns/<int:campaign_id>", methods=["PATCH"])
@staff_required
@blp.arguments(PresaleCampaignPatchSchema(partial=True))
@blp.response(200, PresaleCampaignSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(409, schema=ApiErrorSchema, description="quota_below_sold")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def campaign_update(body, campaign_id):
    """Edit a presale; placed orders keep the terms they were sold with."""
    return _campaign_json(campaigns.update_campaign(campaign_id, body, user_object()))


@blp.route("/campaigns/<int:campaign_id>/quotas/<int:sku_id>", methods=["PUT"])
@staff_required
@blp.arguments(PresaleQuotaBodySchema)
@blp.response(200, PresaleCampaignSchema)
@blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@blp.alt_response(409, schema=ApiErrorSchema, description="quota_below_sold")
def quota_set(body, campaign_id, sku_id):
    """Raise or lower one SKU's presale quota (never below what is sold)."""
    campaigns.set_quota(campaign_id, sku_id, body["quota"], user_object())
    db.session.expire_all()
    return _campaign_json(campaigns.get_campaign(campaign_id))


def _order_terms(order) -> dict:
    record = services.presale_order(order.id)
    if record is None:
        raise NotFound("This order is not a presale order.")
    info = services.balance_of(order)
    return {"order_number": order.number, "mode": record.mode, "ship_promise": services.order_promise(record),
            "ship_by": order.ship_by, "deposit": _money(record.deposit_total, order.currency),
            "deposit_value": _money(record.deposit_value_total, order.currency),
            "paid": _money(order.paid_total or 0, order.currency),
            "balance_due": _money(info.balance, order.currency) if info else None,
            "balance_opens_at": record.balance_opens_at, "balance_closes_at": record.balance_closes_at,
            "balance_state": info.state if info else None,
            "deposit_returned_if_unpaid": bool(record.return_deposit),
            "cancel_now": _cancel_now(order)}


def _cancel_now(order) -> dict | None:
    from .cancel import terms_for

    terms = terms_for(order)
    if terms is None:
        return None
    return {"deposit": _money(terms.deposit_paid, terms.currency), "deposit_kept": terms.kept}


@orders_blp.route("/<number>", methods=["GET"])
@token_required
@orders_blp.response(200, PresaleOrderTermsSchema)
@orders_blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@orders_blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
def order_terms(number):
    """The presale terms of the buyer's order: promise, deposit, balance due and its window."""
    return _order_terms(get_buyer_order(user_object(), number))


@orders_blp.route("/<number>/balance", methods=["POST"])
@token_required
@orders_blp.arguments(PresaleBalanceBodySchema)
@orders_blp.response(201, PresaleBalancePaymentSchema)
@orders_blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@orders_blp.alt_response(409, schema=ApiErrorSchema,
                         description="deposit_unpaid / balance_not_open / balance_closed / not_pending")
@orders_blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
def balance(body, number):
    """Start the balance payment (idempotent by key); pay it at ``pay_url``."""
    buyer = user_object()
    order = get_buyer_order(buyer, number)
    payment = services.start_balance(order, buyer, body["idempotency_key"])
    return {"reference": payment.reference, "status": str(payment.status),
            "amount": _money(payment.amount, payment.currency), "pay_url": start_payment(payment)}, 201


@orders_blp.route("/<number>/cancel", methods=["POST"])
@token_required
@orders_blp.arguments(PresaleCancelBodySchema)
@orders_blp.response(200, PresaleOrderTermsSchema)
@orders_blp.alt_response(404, schema=ApiErrorSchema, description="not_found")
@orders_blp.alt_response(409, schema=ApiErrorSchema, description="not_deposit_paid, concurrent_update")
@orders_blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed (confirm is not true)")
def cancel(body, number):
    """Cancel a deposit-paid order whose balance is unpaid: the deposit is kept or refunded as ``cancel_now`` said."""
    from .cancel import cancel_deposit_order

    buyer = user_object()
    order = get_buyer_order(buyer, number)
    cancel_deposit_order(order, buyer, body["confirm"])
    db.session.expire_all()
    return _order_terms(get_buyer_order(buyer, number))

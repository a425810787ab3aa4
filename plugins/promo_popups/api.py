"""JSON API of the promo popups plugin under ``/api/v1/popups``.

Public: the popup for a page (what the buyer pages render) and the event
beacon. Staff (bearer token): CRUD and statistics. Times in and out are
ISO 8601; a time without offset is read as shop time, answers are UTC.
"""
from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from storefront.api.common import ApiErrorSchema, Blueprint, UTCDateTime, staff_required
from storefront.clock import utcnow
from storefront.extensions import limiter

from . import services
from .buyer import BEACON_LIMIT, handle_event
from .models import AUDIENCES, EVENTS, FREQUENCIES, PAGES, TRIGGERS
from .render import render_popup
from .sanitize import render_html, safe_image_url, safe_url
from .targeting import choose_popup
from storefront.clock import local_to_utc

blp = Blueprint("promo_popups_api", __name__, url_prefix="/api/v1/popups",
                description="Promo popups (plugin promo_popups)")


class ShopDateTime(UTCDateTime):
    """Answers in UTC; a time typed without an offset is shop time, as in the admin."""

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = fields.DateTime._deserialize(self, value, attr, data, **kwargs)
        return local_to_utc(parsed)


class PromoPopupSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String(required=True)
    body = fields.String(metadata={"description": "Sanitised HTML (b, strong, i, em, ul, ol, li, p, br, a, img)"})
    image_url = fields.String()
    image_alt = fields.String()
    cta_label = fields.String()
    cta_url = fields.String()
    starts_at = ShopDateTime(allow_none=True)
    ends_at = ShopDateTime(allow_none=True, metadata={"description": "Exclusive"})
    pages = fields.List(fields.String(validate=validate.OneOf(PAGES)), attribute="page_list", data_key="pages")
    audience = fields.String(validate=validate.OneOf(AUDIENCES))
    trigger = fields.String(validate=validate.OneOf(TRIGGERS))
    trigger_value = fields.Integer()
    frequency = fields.String(validate=validate.OneOf(FREQUENCIES))
    priority = fields.Integer()
    active = fields.Boolean()
    b_enabled = fields.Boolean()
    b_title = fields.String()
    b_body = fields.String()
    b_cta_label = fields.String()
    b_cta_url = fields.String()
    split_percent = fields.Integer()
    coupon_code = fields.String()


class PromoPopupPatchSchema(PromoPopupSchema):
    title = fields.String()


class PromoPopupPageQuery(Schema):
    page = fields.String(required=True, validate=validate.OneOf(["home", "product", "category", "cart", "other"]))


class PromoPopupShownSchema(Schema):
    id = fields.Integer()
    variant = fields.String()
    title = fields.String()
    body = fields.String(metadata={"description": "Sanitised HTML"})
    image_url = fields.String(allow_none=True)
    image_alt = fields.String()
    cta_label = fields.String()
    cta_url = fields.String(allow_none=True)
    trigger = fields.String()
    trigger_value = fields.Integer()
    frequency = fields.String()
    html = fields.String(metadata={"description": "The rendered, sanitised popup partial"})


class PromoPopupActiveSchema(Schema):
    popup = fields.Nested(PromoPopupShownSchema, allow_none=True)


class PromoPopupEventSchema(Schema):
    popup = fields.Integer(required=True)
    variant = fields.String(load_default="a", validate=validate.OneOf(["a", "b"]))
    event = fields.String(required=True, validate=validate.OneOf(EVENTS))


class PromoPopupStatsSchema(Schema):
    variant = fields.String()
    impressions = fields.Integer()
    clicks = fields.Integer()
    dismissals = fields.Integer()
    claims = fields.Integer()
    ctr = fields.Float(metadata={"description": "Clicks per impression, percent"})


def _data(payload: dict) -> dict:
    if "page_list" in payload:
        payload["pages"] = payload.pop("page_list")
    return payload


@blp.get("/active")
@blp.arguments(PromoPopupPageQuery, location="query")
@blp.response(200, PromoPopupActiveSchema)
def active(args):
    """The popup a visitor sees on a page now (or null)."""
    choice = choose_popup(args["page"], current_user, utcnow())
    if choice is None:
        return {"popup": None}
    popup, variant = choice.popup, choice.variant
    content = popup.content(variant)
    return {"popup": {
        "id": popup.id, "variant": variant, "title": content["title"], "body": str(render_html(content["body"])),
        "image_url": safe_image_url(popup.image_url), "image_alt": popup.image_alt, "cta_label": content["cta_label"],
        "cta_url": safe_url(content["cta_url"]), "trigger": popup.trigger, "trigger_value": popup.trigger_value,
        "frequency": popup.frequency, "html": str(render_popup(popup, variant)),
    }}


@blp.post("/events")
@limiter.limit(BEACON_LIMIT)
@blp.arguments(PromoPopupEventSchema)
@blp.response(204)
@blp.alt_response(400, schema=ApiErrorSchema)
def post_event(args):
    """Count an impression, click, dismissal or claim (rate-limited; robots ignored)."""
    body, status = handle_event(args)
    if status != 204:
        return body, status
    return None


@blp.get("/")
@blp.response(200, PromoPopupSchema(many=True))
@staff_required
def list_popups():
    """Every popup (staff)."""
    return services.list_popups()


@blp.post("/")
@blp.arguments(PromoPopupSchema)
@blp.response(201, PromoPopupSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@staff_required
def create_popup(payload):
    """Create a popup (staff). Body HTML is sanitised on save."""
    return services.create_popup(_data(payload), actor=current_user._get_current_object())


@blp.get("/<int:popup_id>")
@blp.response(200, PromoPopupSchema)
@staff_required
def get_popup(popup_id):
    return services.get_popup(popup_id)


@blp.patch("/<int:popup_id>")
@blp.arguments(PromoPopupPatchSchema)
@blp.response(200, PromoPopupSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@staff_required
def update_popup(payload, popup_id):
    """Change some fields of a popup (staff)."""
    return services.update_popup(popup_id, _data(payload), partial=True, actor=current_user._get_current_object())


@blp.delete("/<int:popup_id>")
@blp.response(204)
@staff_required
def delete_popup(popup_id):
    services.delete_popup(popup_id, actor=current_user._get_current_object())
    return None


@blp.get("/<int:popup_id>/stats")
@blp.response(200, PromoPopupStatsSchema(many=True))
@staff_required
def popup_stats(popup_id):
    """Totals per variant (staff)."""
    popup = services.get_popup(popup_id)
    rows = services.stats([popup.id])
    variants = ["a", "b"] if popup.b_enabled else ["a"]
    empty = {"impressions": 0, "clicks": 0, "dismissals": 0, "claims": 0, "ctr": 0.0}
    return [{"variant": v, **rows.get((popup.id, v), empty)} for v in variants]


__all__ = ["blp"]

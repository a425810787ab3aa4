"""The popup partial, shared by buyer pages and the admin preview (same markup, same sanitiser)."""
from __future__ import annotations

from flask import render_template, url_for
from markupsafe import Markup

from storefront.clock import utcnow
from storefront.context_objects import g_object, request_object, user_object
from storefront.plugins.host import get_host
from storefront.plugins.slots import render_slot

from .sanitize import render_html, safe_image_url, safe_url
from .services import PLUGIN_NAME
from .targeting import Choice, Snapshot, choose_popup, page_kind
from storefront.clock import shop_today

#: Slot another plugin (coupons) answers with its claim button; see README.md.
COUPON_SLOT = "popup_coupon_claim"


def current_choice() -> Choice | None:
    """The popup for this request, decided once (the head and body_end slots share it)."""
    app_g = g_object()
    if "pp_choice" not in app_g.__dict__:
        req = request_object()
        page = page_kind(req.endpoint, req.path)
        app_g.pp_choice = choose_popup(page, user_object(), utcnow()) if page else None
    return app_g.pp_choice


def render_popup(popup: Snapshot, variant: str, *, preview: bool = False, uid: str = "") -> Markup:
    content = popup.content(variant)
    claim = Markup("")
    if popup.coupon_code:
        claim = render_slot(COUPON_SLOT, popup_id=popup.id, variant=variant, coupon_code=popup.coupon_code,
                            preview=preview)
    settings = get_host().settings(PLUGIN_NAME) if PLUGIN_NAME in get_host().plugins else {}
    return Markup(render_template(
        "promo_popups/popup.html", popup=popup, variant=variant, preview=preview, uid=f"{popup.id}{uid}",
        title=content["title"], body=render_html(content["body"]), cta_label=content["cta_label"],
        cta_url=safe_url(content["cta_url"]) if content["cta_label"] else None,
        image_url=safe_image_url(popup.image_url), claim=claim,
        day=shop_today(utcnow()).strftime("%Y%m%d"),
        phones=bool(settings.get("show_on_phones", True)),
    ))


def head_slot() -> Markup | None:
    if current_choice() is None:
        return None
    return Markup('<link rel="stylesheet" href="%s">') % url_for("promo_popups.static", filename="promo_popups.css")


def body_end_slot() -> Markup | None:
    choice = current_choice()
    if choice is None:
        return None
    script = Markup('<script src="%s" defer></script>') % url_for("promo_popups.static", filename="promo_popups.js")
    return render_popup(choice.popup, choice.variant) + script


def preview_css_url() -> str:
    return url_for("promo_popups.static", filename="promo_popups.css")




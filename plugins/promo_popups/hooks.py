"""Hook implementations of the promo popups plugin (only called while it is enabled)."""
from __future__ import annotations

from datetime import timedelta

from storefront.i18n import gettext as _
from storefront.plugins import MenuItem, hookimpl

# Imported here, not in the hook: it runs on every page.
from . import render


@hookimpl
def template_slot(name, context):
    if name == "head":
        return render.head_slot()
    if name == "body_end":
        return render.body_end_slot()
    return None


@hookimpl
def admin_menu(user):
    if getattr(user, "is_staff", False):
        return [MenuItem(_("Popups"), "promo_popups_admin.index", order=60)]
    return None


@hookimpl
def api_routes(api):
    from storefront.plugins.host import register_plugin_api

    from .api import blp

    register_plugin_api(api, "promo_popups", blp, "/popups")


@hookimpl
def demo_data(now):
    """One Double-11 popup on the home page, inside the caller's transaction."""
    from storefront.extensions import db

    from .models import Popup
    from .services import validate

    values = validate({
        "title": "Double 11 is on: up to 50% off",
        "body": "<p><strong>11.11 only.</strong> Presale prices end at midnight.</p>"
                "<ul><li>Free shipping over ¥99</li><li>Ship-by dates on every product</li></ul>",
        "cta_label": "Shop the sale", "cta_url": "/products",
        "starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=14),
        "pages": ["home"], "audience": "everyone", "trigger": "delay", "trigger_value": 3,
        "frequency": "day", "priority": 10, "active": True,
    })
    db.session.add(Popup(**values))

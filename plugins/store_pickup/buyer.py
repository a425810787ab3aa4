"""Buyer page: the pickup stores with their hours (404 while the plugin is disabled)."""
from __future__ import annotations

from flask import Blueprint, render_template

from storefront.context_objects import signed_in_user

from . import services
from .render import hours_html

bp = Blueprint("store_pickup", __name__, url_prefix="/pickup", template_folder="templates")


@bp.get("/stores")
def stores():
    buyer = signed_in_user()
    return render_template("store_pickup/stores.html", locations=services.locations_for_buyer(buyer),
                           hours_html=hours_html)

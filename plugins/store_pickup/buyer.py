"""Buyer page: the pickup stores with their hours (404 while the plugin is disabled)."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from . import services
from .render import hours_rows

bp = Blueprint("store_pickup", __name__, url_prefix="/pickup", template_folder="templates")


@bp.get("/stores")
def stores():
    buyer = current_user if current_user.is_authenticated else None
    return render_template("store_pickup/stores.html", locations=services.locations_for_buyer(buyer),
                           hours_rows=hours_rows)

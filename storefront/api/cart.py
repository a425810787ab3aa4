"""API: cart."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_cart", __name__, url_prefix="", description="cart")

"""API: checkout."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_checkout", __name__, url_prefix="", description="checkout")

"""API: catalog."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_catalog", __name__, url_prefix="", description="catalog")

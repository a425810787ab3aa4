"""API: auth."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_auth", __name__, url_prefix="", description="auth")

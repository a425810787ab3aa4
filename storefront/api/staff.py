"""API: staff."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_staff", __name__, url_prefix="", description="staff")

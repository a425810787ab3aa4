from __future__ import annotations

from flask import Blueprint

bp = Blueprint("payments", __name__)

"""The admin blueprint; its pages live in the modules imported below."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__)

from . import dashboard, products, orders, plugins, settings, audit, jobs  # noqa: E402,F401

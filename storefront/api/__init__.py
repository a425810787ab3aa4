"""JSON API under ``/api/v1``: flask-smorest blueprints, one per domain.

Errors are ``{"error": {"code": <stable code>, "message": ..., "fields": {...}}}``.
Authentication is a bearer token from ``POST /api/v1/auth/token``; API routes
ignore the session cookie for writes, so CSRF does not apply to them.
"""
from __future__ import annotations

from flask_smorest import Api

from ..extensions import csrf

API_MODULES = ("auth", "catalog", "cart", "checkout", "orders", "staff")


def register_api(api: Api, prefix: str) -> None:
    import importlib

    for name in API_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        blp = module.blp
        csrf.exempt(blp)
        api.register_blueprint(blp, url_prefix=f"{prefix}/api/v1{blp.url_prefix or ''}")

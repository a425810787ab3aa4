"""Request plumbing shared by every page: users, errors, headers, template globals."""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, render_template, request, session
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from . import identity_reuse
from .api.messages import http_error_message, translated_fields
from .clock import utcnow
from .context_objects import app_object, g_object, query_value, user_object
from .errors import ServiceError
from .extensions import db, login_manager
from .i18n import LOCALE_NAMES, format_money, gettext as _
from .models_base import MAX_ROW_ID
from .plugins.host import flatten, get_host
from .plugins.slots import render_slot
from .settings import all_settings


def is_api_request() -> bool:
    prefix = current_app.config["OPENAPI_URL_PREFIX"]
    return request.path.startswith(prefix + "/") or request.path == prefix


def json_error(code: str, message: str, status: int, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return body, status


# What every JSON error looks like (json_error, ServiceError.to_json). flask-smorest
# documents its own default error body ({code: int, status, message, errors}),
# which this app never sends: its "Error" component is replaced by this one,
# so clients and the schemathesis suite validate errors against the real shape.
ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "Stable machine-readable code"},
            "message": {"type": "string"},
            "field": {"type": "string"},
            "details": {"type": "object"},
            "fields": {"type": "object", "description": "Errors per input field"},
        },
    }},
}


def document_error_envelope(app: Flask) -> None:
    state = app.extensions.get("storefront")
    api = getattr(state, "api", None)
    if api is not None and "Error" in api.spec.components.schemas:
        api.spec.components.schemas["Error"] = dict(ERROR_ENVELOPE)


def init_web(app: Flask) -> None:
    document_error_envelope(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_key: str):
        try:
            user_id, token = user_key.split(":", 1)
            user = identity_reuse.session_user(int(user_id), token)
        except (ValueError, TypeError):
            return None
        if user is None or user.session_token != token or not user.is_active:
            return None
        g._login_user = user
        return user

    @login_manager.request_loader
    def load_user_from_bearer(req):
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        token = identity_reuse.bearer_token(digest)
        if token is None or token.revoked or (token.expires_at and token.expires_at < utcnow()):
            return None
        if not token.user.is_active:
            return None
        g.api_token = token
        return token.user

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import redirect, url_for

        if is_api_request():
            return json_error("unauthorized", _("Sign in first (Authorization: Bearer <token>)."), 401)
        return redirect(url_for("accounts.login", next=request.full_path if request.query_string else request.path))

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        if is_api_request():
            return exc.to_json(), exc.status
        return render_template("storefront/error.html", code=exc.status, message=exc.message), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        if is_api_request():
            return json_error("csrf_failed", _("The form expired or was not sent by this shop. Reload and try again."), 400)
        return render_template("storefront/error.html", code=400,
                               message=_("The form expired or was not sent by this shop. Reload the page and try again.")), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.code or 500
        if is_api_request():
            extra = {}
            messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
            if messages:
                extra["fields"] = translated_fields(messages)
            stable = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                      405: "method_not_allowed", 409: "conflict", 413: "too_large",
                      422: "validation_failed", 429: "rate_limited"}.get(code, "http_error")
            message = http_error_message(code, exc.description, type(exc).description, _error_message)
            return json_error(stable, message, code, **extra)
        return render_template("storefront/error.html", code=code, message=_error_message(code)), code

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        current_app.logger.exception("unhandled error")
        db.session.rollback()
        if is_api_request():
            return json_error("server_error", _("Something went wrong on our side. Please try again."), 500)
        return render_template("storefront/error.html", code=500, message=_error_message(500)), 500

    @app.url_value_preprocessor
    def _row_ids_in_range(_endpoint, values):
        # Werkzeug's <int:...> has no upper bound, and past the id columns' range the
        # database driver refuses the number (a 500 on SQLite and PostgreSQL alike):
        # no row has such an id, so it is not found, before any view asks.
        if values and any(type(value) is int and value > MAX_ROW_ID for value in values.values()):
            abort(404)

    @app.after_request
    def security_headers(response):
        # Each unless the view set its own. Not Headers.setdefault: a missing header is a
        # BadRequestKeyError raised and caught inside it, 2.5 µs apiece on every response.
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        if getattr(g, "no_store", False):
            response.headers["Cache-Control"] = "no-store"
        return response

    app.jinja_env.globals["query_value"] = query_value

    @app.context_processor
    def template_globals():
        return {
            "shop": _shop_for_templates(),
            "slot": render_slot,
            "locales": LOCALE_NAMES,
            "money": format_money,
            "admin_menu": _admin_menu,
            "account_menu": _account_menu,
            "currency": app_object().config["STOREFRONT_CURRENCY"],
        }

    @app.before_request
    def remember_locale():
        lang = query_value("lang")
        if lang and lang in current_app.config["STOREFRONT_LOCALES"]:
            session["locale"] = lang


#: Sent with every response that has not set its own.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"),
)


def is_http_url(value) -> bool:
    """An absolute http(s) URL without whitespace: the only kind of link a
    setting may put into ``href``/``src`` (never ``javascript:`` or ``data:``)."""
    if not isinstance(value, str) or not value or any(c.isspace() or ord(c) < 32 for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _shop_for_templates() -> dict:
    # The settings form already refuses non-http(s) links; this second check
    # keeps a value written some other way (an import, the shell, an old
    # version) from ever reaching an href on every page.
    values = all_settings()
    app_g = g_object()
    checked = app_g.__dict__.get("_shop_for_templates")
    if checked is not None and checked[0] is values:
        return checked[1]  # every render_template of the request (a page's slots: a few) asks
    unsafe = [key for key, value in values.items()
              if (key.endswith("_url") or key.startswith("social_")) and value and not is_http_url(value)]
    shown = {**values, **{key: "" for key in unsafe}} if unsafe else values
    app_g._shop_for_templates = (values, shown)
    return shown


def _error_message(code: int) -> str:
    # Only the one message shown is translated (each gettext call costs a few µs).
    return _ERROR_MESSAGES.get(code, _generic_error)()


def _generic_error() -> str:
    return _("Something went wrong.")


_ERROR_MESSAGES = {
    400: lambda: _("That request could not be understood."),
    403: lambda: _("You do not have access to this page."),
    401: lambda: _("Sign in first."),
    404: lambda: _("We could not find that page."),
    405: lambda: _("That action is not allowed here."),
    409: lambda: _("That changed meanwhile. Reload and try again."),
    413: lambda: _("That upload is too large."),
    429: lambda: _("Too many attempts. Please wait a little and try again."),
    500: lambda: _("Something went wrong on our side. Please try again."),
}


def _admin_menu():
    from .plugins.types import MenuItem

    core = [
        MenuItem(_("Dashboard"), "admin.dashboard", order=0),
        MenuItem(_("Orders"), "admin.orders", order=10),
        MenuItem(_("Products"), "admin.products", order=20),
    ]
    if getattr(user_object(), "is_owner", False):  # owner-only pages: staff would get 403
        core += [
            MenuItem(_("Plugins"), "admin.plugins", order=80),
            MenuItem(_("Settings"), "admin.settings", order=90),
            MenuItem(_("Audit log"), "admin.audit", order=95),
        ]
    extra = flatten(get_host().call_safely("admin_menu", user=user_object()))
    return sorted(core + extra, key=lambda item: item.order)


def _account_menu():
    from .plugins.types import MenuItem

    core = [
        MenuItem(_("My orders"), "orders.list_orders", order=0),
        MenuItem(_("Messages"), "accounts.messages", order=10),
        MenuItem(_("Addresses"), "accounts.addresses", order=20),
        MenuItem(_("Password"), "accounts.password", order=30),
    ]
    extra = flatten(get_host().call_safely("account_menu", user=user_object()))
    return sorted(core + extra, key=lambda item: item.order)

"""The templates' ``csrf_token()``: a session's signed token is signed once a minute, not
once a request.

Flask-WTF signs the session's raw CSRF token anew for every request that shows a form
(``generate_csrf``: a serializer built, the token JSON-encoded, a timestamp and an
HMAC): about 200,000 instructions, 4 % of the signed-in layout, which shows the
sign-out and language forms on every page (``bench/inprocess.py --instructions``).
For one raw token and key that signature only differs by its timestamp, which
Flask-WTF checks against ``WTF_CSRF_TIME_LIMIT`` (none here: a token lives as long
as its session). So a worker keeps each session's signed token for ``REUSE_SECONDS``
and hands the same one to that session's next pages; a configured time limit is
shortened by at most that much.

The token kept is the one Flask-WTF signed, under the raw token the request's own
session holds and the current key: a session never sees another's, a rotated key
signs anew. The forms' own ``csrf_token`` fields then find it where Flask-WTF looks
(``g``), as they find a token signed earlier in the same request.
"""
from __future__ import annotations

import time

from flask import Flask
from flask_wtf.csrf import _FlaskFormCSRF, generate_csrf

from .caching import ExpiringLRU
from .context_objects import app_object, g_object, session_object

#: How long a worker hands out the same signed token to a session.
REUSE_SECONDS = 60.0
#: Sessions a worker keeps a token for (about 250 bytes each).
MAX_ENTRIES = 4096

EXTENSION_KEY = "storefront_csrf_tokens"

#: The clock of the window; tests patch it.
_now = time.monotonic


def csrf_token(secret_key: str | None = None, token_key: str | None = None) -> str:
    """Flask-WTF's ``generate_csrf()`` (same arguments), from the worker's copy when it has one."""
    # Asked for by every form of a page: the objects behind the proxies are taken once.
    app, app_g = app_object(), g_object()
    config = app.config
    field = token_key or config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    token = app_g.__dict__.get(field)
    if token is not None:
        return token
    raw = session_object().get(field)
    if not isinstance(raw, str):  # a new session: Flask-WTF makes its raw token
        return generate_csrf(secret_key, token_key)
    tokens: ExpiringLRU = app.extensions[EXTENSION_KEY]  # (signing key, raw token) -> signed
    key = (secret_key or config.get("WTF_CSRF_SECRET_KEY") or app.secret_key, raw)
    token = tokens.get(key, _now())
    if token is None:
        token = generate_csrf(secret_key, token_key)
        tokens.put(key, token, expires=_now() + REUSE_SECONDS, max_entries=MAX_ENTRIES)
    else:
        setattr(app_g, field, token)
    return token


class FormCSRF(_FlaskFormCSRF):
    """The forms' CSRF field (``FlaskForm.Meta.csrf_class``), its token from :func:`csrf_token`:
    a form built in a view signs before the page's template does."""

    def generate_csrf_token(self, csrf_token_field):
        return csrf_token(self.meta.csrf_secret, self.meta.csrf_field_name)


def init_app(app: Flask) -> None:
    """After ``CSRFProtect.init_app``, whose ``csrf_token`` template global and context
    processor this overrides (Flask applies context processors in order)."""
    app.extensions[EXTENSION_KEY] = ExpiringLRU()
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(_template_context)


def _template_context() -> dict:
    return {"csrf_token": csrf_token}

"""Fingerprinted static URLs, cached by browsers and CDNs for a year.

Flask serves static files with ``Cache-Control: no-cache``: every page view
made each browser ask again for the stylesheet and the scripts (a conditional
request answered 304). On a sale day that is two or three extra requests per
page, each a full trip through the app and, on a phone, a network round trip
before the page can render.

``url_for('<blueprint>.static', filename=...)`` -- the core's and every
plugin's -- now adds ``?v=`` and the first 12 hex digits of the file's SHA-256
(``app.url_defaults``). A static file asked for with its current fingerprint
is answered ``public, max-age=31536000, immutable``. A new release changes the
fingerprint, so browsers fetch the new file at once. Without the fingerprint,
or with an old one (a page cached before the release), the answer stays
``no-cache``, so an old link never pins a file that has since changed.

Such an answer also drops ``Vary: Cookie``. Flask-Login's remember-cookie
check reads the session on every response, which made Flask add it, and a
browser does not reuse a response stored under another cookie. The session
cookie changes with every flashed message, so every stylesheet and script
would have been fetched again. A static file never depends on the session; a
static request that does change it (``?lang=`` on its URL) still saves it.
Uploaded product images (``catalog.image``, random names never reused) are
answered the same way (:func:`mark_public`).
"""
from __future__ import annotations

import hashlib
import os

from flask import Flask, current_app, g, request
from werkzeug.security import safe_join

from .context_objects import query_value
from .url_memo import pure_url_default

ONE_YEAR = 365 * 24 * 3600
QUERY_KEY = "v"


def _static_folder(app: Flask, endpoint: str) -> str | None:
    if endpoint == "static":
        return app.static_folder
    blueprint = app.blueprints.get(endpoint.rsplit(".", 1)[0])
    return blueprint.static_folder if blueprint is not None else None


def is_static_endpoint(endpoint: str | None) -> bool:
    return bool(endpoint) and (endpoint == "static" or endpoint.endswith(".static"))


def fingerprint(app: Flask, endpoint: str, filename: str) -> str | None:
    """The file's fingerprint, or None when it is not a file of that static folder.

    Computed once per worker and file; with the debugger on, again whenever the
    file's modification time changes (edited stylesheets show on reload)."""
    cache: dict = app.extensions["storefront_static_fingerprints"]
    key = (endpoint, filename)
    known = cache.get(key)
    if known is not None and not app.debug:
        # Only a file found in its folder is ever kept; finding the folder and joining
        # the path again cost more than the rest of url_for (two per page).
        return known[1]
    folder = _static_folder(app, endpoint)
    path = safe_join(folder, filename) if folder else None
    if path is None:
        return None
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return None
    if known is not None and known[0] == mtime:
        return known[1]
    try:
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()[:12]
    except OSError:
        return None
    cache[key] = (mtime, digest)
    return digest


def mark_public() -> None:
    """This request's answer is the same for everyone (a fingerprinted static file, a
    product image): its session is not saved (cookie_session.SessionInterface), so it
    gets no ``Vary: Cookie``, unless the request changed the session."""
    g._public_asset = True


def init_app(app: Flask) -> None:
    app.extensions["storefront_static_fingerprints"] = {}

    @app.url_defaults
    @pure_url_default  # outside debug mode, where the memo is off (the file may change)
    def _add_fingerprint(endpoint: str, values: dict) -> None:
        if not is_static_endpoint(endpoint) or QUERY_KEY in values:
            return
        filename = values.get("filename")
        if filename:
            digest = fingerprint(current_app, endpoint, filename)
            if digest:
                values[QUERY_KEY] = digest

    @app.after_request
    def _cache_fingerprinted(response):
        asked = query_value(QUERY_KEY)  # on every response, and nearly always absent
        if not asked or not is_static_endpoint(request.endpoint) or response.status_code not in (200, 304):
            return response
        filename = (request.view_args or {}).get("filename")
        if not filename or asked != fingerprint(current_app, request.endpoint, filename):
            return response
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = ONE_YEAR
        response.cache_control.immutable = True
        mark_public()
        return response

"""The templates' ``url_for``: a URL a worker has built once is not built again.

A signed-in page builds 9 URLs (the layout) to 20 and more (the cart page: each
line's links and forms), each through Flask's ``url_for``: the endpoint's
``url_defaults`` functions, Werkzeug's ``MapAdapter.build``, the rule's compiled
builder and the query string's encoding: about 17,000 instructions a URL, 3 %
of the signed-in layout (``bench/inprocess.py --instructions``). For the same endpoint
and arguments it is the same text for the life of a worker, as long as

- nothing else it depends on differs: the request's script root, host and
  scheme are part of the key (a rule on another host or subdomain is built as
  an absolute URL);
- every ``url_defaults`` function that applies to the endpoint is a function of
  the endpoint and the values alone, and says so (:func:`pure_url_default`).
  The shop's one adds a static file's fingerprint. A host app's or plugin's
  function without the mark keeps its endpoints off the memo. Flask accepts no
  new ``url_defaults`` once the app has served a request, and the memo keeps
  nothing before that;
- the debugger is off: with it on, an edited static file gets a new fingerprint.

An absolute URL (``_external``, ``_scheme``), an endpoint relative to the
blueprint (``.name``) and an argument that is not hashable (a list of values
for a repeated query parameter) are built as before. A worker keeps at most
``MAX_URLS`` (product and order links are many): when full, it starts again.
"""
from __future__ import annotations

from flask import Flask

from .context_objects import request_object


#: URLs a worker keeps (about 400 bytes each with their keys: 1.6 MB when full).
MAX_URLS = 4096

_PURE = "_storefront_pure_url_default"


def pure_url_default(func):
    """Mark a ``url_defaults`` function whose changes to the values depend only on the
    endpoint and the values given (not on the request, the user or the time)."""
    setattr(func, _PURE, True)
    return func


class UrlMemo:
    """``url_for`` for the templates (``app.jinja_env.globals["url_for"]``); see the module."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.build = app.url_for
        self.urls: dict[tuple, str] = {}
        self._pure: dict[str, bool] = {}

    def __call__(self, endpoint: str, **values) -> str:
        app = self.app
        req = request_object()
        if app.debug or endpoint[:1] == "." or "_external" in values or "_scheme" in values or req is None:
            return self.build(endpoint, **values)
        environ = req.environ
        try:
            key = (endpoint, environ.get("SCRIPT_NAME"), environ.get("HTTP_HOST"), environ.get("wsgi.url_scheme"),
                   # the type too: True and 1 are equal keys, but url_for writes "True" and "1"
                   *[(name, type(value), value) for name, value in values.items()])
            url = self.urls.get(key)
        except TypeError:  # an unhashable value
            return self.build(endpoint, **values)
        if url is None:
            url = self.build(endpoint, **values)
            if self._defaults_are_pure(endpoint):
                if len(self.urls) >= MAX_URLS:
                    self.urls.clear()
                self.urls[key] = url
        return url

    def _defaults_are_pure(self, endpoint: str) -> bool:
        """Whether each ``url_defaults`` function Flask applies to ``endpoint`` is marked pure
        (the app's, then its blueprints', as ``Flask.inject_url_defaults`` finds them). Known
        once the app has served a request: no function can be added after that."""
        known = self._pure.get(endpoint)
        if known is not None:
            return known
        names: list[str | None] = [None]
        if "." in endpoint:  # "a.b.view": the blueprints "a" and "a.b"
            parts = endpoint.split(".")[:-1]
            names.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        functions = self.app.url_default_functions
        pure = all(getattr(func, _PURE, False) for name in names for func in functions.get(name, ()))
        if getattr(self.app, "_got_first_request", True):
            self._pure[endpoint] = pure
            return pure
        return False  # still being set up: keep nothing yet


def init_app(app: Flask) -> None:
    """Give the templates the memo, unless the app gave them its own ``url_for``."""
    if app.jinja_env.globals.get("url_for") == app.url_for:
        app.jinja_env.globals["url_for"] = UrlMemo(app)

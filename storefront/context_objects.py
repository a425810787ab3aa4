"""The objects behind Flask's context proxies, for the helpers a page calls many times.

An attribute of ``g``, ``request``, ``session``, ``current_app`` or Flask-Login's
``current_user`` is found through Werkzeug's ``LocalProxy``: the ordinary look-up
fails, then the proxy's ``__getattr__`` descriptor binds a function that finds the
context and reads the attribute. That is about 0.8 µs an access (``timeit`` on the
benchmark machine), against 0.1 µs for the proxy's documented
``_get_current_object()`` and an attribute of what it returns. A cart page made
330 such accesses, most of them from a few helpers asked dozens of times (the
locale, the CSRF token, the plugin states, the settings). Those helpers take the
object once through the functions below; code that runs once a request keeps
the proxies, which read better.
"""
from __future__ import annotations

from flask import current_app, g, request, session
from flask_login import current_user

_g = g._get_current_object
_request = request._get_current_object
_session = session._get_current_object
_user = current_user._get_current_object

#: ``current_app``'s object; raises ``RuntimeError`` outside an app context, as the proxy does.
app_object = current_app._get_current_object


def g_object():
    """The app context's ``g``, or None outside an app context (where ``bool(g)`` is false)."""
    try:
        return _g()
    except RuntimeError:
        return None


def request_object():
    """The current request, or None outside a request context."""
    try:
        return _request()
    except RuntimeError:
        return None


def session_object():
    """The current request's session; raises ``RuntimeError`` outside a request, as the proxy does."""
    return _session()


def user_object():
    """``current_user``'s object (a user or the anonymous user), None outside a request.

    Flask-Login keeps the loaded user on ``g`` as ``_login_user``; once it is there it is
    taken directly. Passing this on, rather than the ``current_user`` proxy, spares each
    later ``buyer.id`` two trips through the proxies (``current_user``, then ``g``).
    """
    app_g = g_object()
    if app_g is not None:
        user = app_g.__dict__.get("_login_user")
        if user is not None:
            return user
    try:
        return _user()
    except RuntimeError:
        return None


def signed_in_user():
    """The signed-in user's object, or None (anonymous, or outside a request)."""
    user = user_object()
    return user if user is not None and user.is_authenticated else None


def query_value(name: str):
    """``request.args.get(name)``, None outside a request. For the look-ups every page makes
    of a parameter that is usually absent (``lang``, ``q``): Werkzeug's ``MultiDict.get``
    raises and catches a ``BadRequestKeyError`` for a missing key, an HTTP exception built
    for nothing (about 2.5 µs)."""
    req = request_object()
    if req is None:
        return None
    args = req.args
    return args[name] if name in args else None

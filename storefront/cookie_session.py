"""The cookie session: its signature checked once per cookie, and left off public answers.

Flask verifies the session cookie on every request: an HMAC over the cookie, a
base64 and JSON decode, and the tagged-JSON walk over every value -- about a
twentieth of a signed-in buyer's cart page. Yet the cookie a browser sends
changes only when the session does (sessions here are not permanent, so Flask
does not sign them anew on every answer): a buyer browsing the sale sends the
same bytes page after page. A worker therefore keeps what it read from a cookie
it has verified, by the cookie's exact text and the serializer (one per secret
key) that verified it, and gives the next request with those bytes a fresh
session built from it.

What is kept is only ever what the signature proved: the same text under the same
keys verifies the same way. The age limit is checked again on every use, as
itsdangerous checks it, so a kept cookie expires when the cookie would. Only
sessions of plain values (text, numbers, flags) are kept, since the session a
request gets must not share a list or dict with the next one (Flask's ``flash``
appends to the session's list in place).
"""
from __future__ import annotations

import time

from flask import Flask, g
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .caching import ExpiringLRU

#: Cookies kept per worker; beyond it the least recently used is dropped. Most cookies are a few
#: hundred bytes; a worker of a busy shop sees a few hundred buyers a minute.
KEPT_COOKIES = 1024
_PLAIN = (str, int, float, bool, type(None))


class SessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer] = {}
        self._verified = ExpiringLRU()  # (serializer, cookie) -> (data, signed at)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # Flask builds the serializer anew for every request, and again to save the session.
        # It holds only the keys and settings: one per secret key (and fallbacks) serves.
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        try:
            serializer = self._serializers.get(key)
        except TypeError:  # an unhashable key: as Flask does it
            return super().get_signing_serializer(app)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            if serializer is not None and len(self._serializers) < 4:
                self._serializers[key] = serializer
        return serializer

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        key, now = (serializer, cookie), time.time()
        kept = self._verified.get(key, now)
        # itsdangerous' own test, against today's limit: a whole-second age, neither negative
        # nor past max_age (an expired one also leaves the cache when it is next read).
        if kept is not None and 0 <= int(now) - kept[1] <= max_age:
            return self.session_class(kept[0])
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(type(value) in _PLAIN for value in data.values()):
            signed_at = int(signed_at.timestamp())
            self._verified.put(key, (dict(data), signed_at), expires=signed_at + max_age + 1,
                               max_entries=KEPT_COOKIES)
        return self.session_class(data)

    def save_session(self, app, session, response) -> None:
        # static_assets.mark_public(): an answer the same for everyone carries no cookie.
        if g.get("_public_asset") and not session.modified:
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()

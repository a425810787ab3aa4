"""Signed links sent by e-mail: password reset and registration confirmation.

Both are ``itsdangerous`` tokens signed with the app's ``SECRET_KEY`` and a
salt of their own, so a token of one kind is never accepted as the other.
Their age is measured with the shop clock (:func:`storefront.clock.utcnow`)
so that tests and demos that move the clock expire them too.

A reset token carries a fingerprint of the password hash it was issued for:
the hash changes (new random salt) whenever the password is set, so the
link dies once used or once the password changes in any other way. The
fingerprint, not the hash, goes into the link: token payloads are signed
but readable.
"""
from __future__ import annotations

import hashlib
from calendar import timegm

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from ..clock import utcnow

RESET_SALT = "password-reset"
CONFIRM_SALT = "account-confirm"
RESET_MAX_AGE = 3600            # one hour
CONFIRM_MAX_AGE = 24 * 3600     # one day


class InvalidLink(Exception):
    """The token is forged, expired, of another kind or already used."""

    def __init__(self, reason: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason  # "invalid", "expired" or "used" (logs and tests only)


class _ShopClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return timegm(utcnow().timetuple())


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ShopClockSigner)


def _load(token: str, salt: str, max_age: int) -> dict:
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise InvalidLink()
    try:
        data = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise InvalidLink("expired") from None
    except BadSignature:
        raise InvalidLink() from None
    if not isinstance(data, dict):
        raise InvalidLink()
    return data


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(b"reset:" + (password_hash or "").encode()).hexdigest()[:32]


def make_reset_token(user_id: int, password_hash: str) -> str:
    return _serializer(RESET_SALT).dumps({"u": int(user_id), "p": password_fingerprint(password_hash)})


def load_reset_token(token: str) -> tuple[int, str]:
    """``(user id, password fingerprint)`` of a valid reset token, else :class:`InvalidLink`."""
    data = _load(token, RESET_SALT, RESET_MAX_AGE)
    user_id, fingerprint = data.get("u"), data.get("p")
    if not isinstance(user_id, int) or not isinstance(fingerprint, str):
        raise InvalidLink()
    return user_id, fingerprint


def make_confirm_token(email: str) -> str:
    return _serializer(CONFIRM_SALT).dumps({"e": email})


def load_confirm_token(token: str) -> str:
    """The (normalised) e-mail address of a valid confirmation token, else :class:`InvalidLink`."""
    email = _load(token, CONFIRM_SALT, CONFIRM_MAX_AGE).get("e")
    if not isinstance(email, str) or not email:
        raise InvalidLink()
    return email

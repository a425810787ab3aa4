"""Accounts: users, sign-in, passwords, sessions, API tokens and profiles.

Views, the JSON API and the CLI all call these functions. Addresses live in
:mod:`.addresses` and the message centre in :mod:`.messages`; both are
re-exported here so other domains import everything from ``accounts.services``.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..clock import utcnow
from ..database import write_transaction
from ..errors import Conflict, ServiceError, ValidationFailed
from ..extensions import db
from ..i18n import gettext as _
from .models import ApiToken, Role, User

# Re-exported: one import path for every account use case.
from .addresses import (add_address, delete_address, get_address, list_addresses,  # noqa: F401
                        set_default, update_address)
from .messages import mark_messages_read, messages_page, order_numbers, unread_messages  # noqa: F401

PASSWORD_MIN = 8
# Hashing is deliberately slow; an unbounded password would make it a DoS lever.
PASSWORD_MAX = 128
EMAIL_MAX = 254
# Deliberately loose: the only proof an address works is a message arriving.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")

_dummy_hash: str | None = None


class InvalidCredentials(ServiceError):
    code = "invalid_credentials"
    status = 401


def normalise_email(email: str | None) -> str:
    return (email or "").strip().lower()


def validate_email(email: str | None) -> str:
    """Return the normalised address or raise ``ValidationFailed`` on ``email``."""
    email = normalise_email(email)
    if not email or len(email) > EMAIL_MAX or not _EMAIL_RE.match(email):
        raise ValidationFailed(_("Enter a valid e-mail address."), field="email")
    return email


def validate_password(password: str | None, *, field: str = "password") -> str:
    password = password or ""
    if len(password) < PASSWORD_MIN:
        raise ValidationFailed(_("Use at least %(n)s characters.", n=PASSWORD_MIN),
                               code="password_too_short", field=field)
    if len(password) > PASSWORD_MAX:
        raise ValidationFailed(_("Use at most %(n)s characters.", n=PASSWORD_MAX),
                               code="password_too_long", field=field)
    return password


def _clean_phone(phone: str | None) -> str | None:
    phone = (phone or "").strip()
    if len(phone) > 32:
        raise ValidationFailed(_("That phone number is too long."), field="phone")
    return phone or None


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if len(name) > 120:
        raise ValidationFailed(_("That name is too long."), field="name")
    return name


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email == normalise_email(email))
    ).scalar_one_or_none()


def create_user(email: str, password: str, name: str, role: Role | str = "buyer",
                phone: str | None = None) -> User:
    """Create an account. Raises ``Conflict`` (``email_taken``) for a known address."""
    email = validate_email(email)
    validate_password(password)
    name = _clean_name(name)
    phone = _clean_phone(phone)
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(_("Unknown role."), field="role") from None
    # Hash before the write transaction: it is slow and must not hold the lock.
    password_hash = generate_password_hash(password)
    taken = Conflict(_("An account with this e-mail address already exists."),
                     code="email_taken", field="email")
    if find_user_by_email(email) is not None:
        raise taken
    try:
        with write_transaction():
            user = User(email=email, name=name, phone=phone, role=role,
                        password_hash=password_hash, session_token=secrets.token_hex(16))
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        # Lost a race with a simultaneous registration of the same address.
        raise taken from None
    return user


def _check_dummy(password: str) -> None:
    # Unknown addresses cost one hash check too, so timing does not tell
    # an attacker which addresses have accounts.
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash(secrets.token_hex(16))
    check_password_hash(_dummy_hash, password)


def authenticate(email: str, password: str) -> User:
    """Return the user for these credentials or raise ``InvalidCredentials``.

    Unknown address, wrong password and disabled account give the same
    answer; each failure is written to the audit log (never the password).
    """
    email = normalise_email(email)[:EMAIL_MAX]
    password = (password or "")[:PASSWORD_MAX]
    user = find_user_by_email(email) if email else None
    if user is None:
        _check_dummy(password)
        ok = False
    else:
        ok = user.check_password(password) and user.is_active
    if not ok:
        _record_failed_login(user, email)
        raise InvalidCredentials(_("That e-mail address and password do not match an account."))
    return user


def _record_failed_login(user: User | None, email: str) -> None:
    from ..audit.services import record

    with write_transaction():
        record(user, "login_failed", user, object_type="user", after={"email": email})


def _revoke_all_tokens(user: User) -> None:
    db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
        .values(revoked=True).execution_options(synchronize_session=False)
    )


def change_password(user: User, current: str, new: str) -> User:
    """Set a new password after checking the current one.

    Rotating the session token signs out every other session and
    remember-me cookie, and API tokens are revoked; the caller signs the
    current session in again (``login_user``) with the refreshed user.
    """
    if not user.check_password((current or "")[:PASSWORD_MAX]):
        raise ValidationFailed(_("Your current password is not correct."),
                               code="wrong_password", field="current_password")
    validate_password(new, field="new_password")
    password_hash = generate_password_hash(new)
    from ..audit.services import record

    with write_transaction():
        user.password_hash = password_hash
        user.session_token = secrets.token_hex(16)
        _revoke_all_tokens(user)
        record(user, "password_changed", user)
    return user


def end_browser_sessions(user: User) -> None:
    """Make every session and remember-me cookie of ``user`` worthless (sign-out).

    Sessions are signed cookies the server does not keep, so a copy taken
    before sign-out (a shared computer, malware, a proxy log) would otherwise
    stay valid: rotating the token embedded in them is the only way to kill
    it. The price is that signing out on one browser signs out the others;
    API tokens are left alone (``logout_everywhere`` revokes those too).
    """
    with write_transaction():
        user.session_token = secrets.token_hex(16)


def logout_everywhere(user: User) -> None:
    """End every session, remember-me cookie and API token of ``user``."""
    with write_transaction():
        user.session_token = secrets.token_hex(16)
        _revoke_all_tokens(user)


def update_profile(user: User, *, name: str, phone: str | None, locale: str | None) -> User:
    name = _clean_name(name)
    phone = _clean_phone(phone)
    locale = (locale or "").strip() or None
    if locale is not None and locale not in current_app.config["STOREFRONT_LOCALES"]:
        raise ValidationFailed(_("Choose one of the offered languages."), field="locale")
    with write_transaction():
        user.name = name
        user.phone = phone
        user.locale = locale
    return user


# API tokens ---------------------------------------------------------------

def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def issue_api_token(user: User) -> tuple[str, ApiToken]:
    """Create a bearer token; the plaintext is returned once and never stored."""
    plaintext = "sft_" + secrets.token_urlsafe(32)
    days = int(current_app.config["STOREFRONT_API_TOKEN_DAYS"])
    with write_transaction():
        token = ApiToken(user_id=user.id, token_hash=hash_token(plaintext),
                         created_at=utcnow(), expires_at=utcnow() + timedelta(days=days))
        db.session.add(token)
    return plaintext, token


def issue_token(user: User) -> str:
    return issue_api_token(user)[0]


def revoke_token(token: ApiToken | str) -> bool:
    """Revoke a token given as its row or its plaintext; True if one was live."""
    digest = token.token_hash if isinstance(token, ApiToken) else hash_token(token)
    with write_transaction():
        result = db.session.execute(
            update(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked.is_(False))
            .values(revoked=True).execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


__all__ = [
    "InvalidCredentials", "normalise_email", "validate_email", "validate_password",
    "find_user_by_email", "create_user", "authenticate", "change_password", "logout_everywhere",
    "update_profile", "hash_token", "issue_api_token", "issue_token", "revoke_token",
    "add_address", "update_address", "delete_address", "set_default", "get_address",
    "list_addresses", "messages_page", "order_numbers", "mark_messages_read", "unread_messages",
]

"""Password reset and registration by e-mail link, without revealing accounts.

Asking for a reset link or registering answers the same whether or not the
address has an account; only the mail that goes to the address differs. Both
branches do the same work (one look-up, one token signature, one template
rendered, one outbox row, one audit row for resets) so response times do not
tell them apart either. Whoever controls the mailbox learns the truth, which
is the point.

Registration therefore creates nothing until the address is confirmed: the
first step asks only for the e-mail address, the link in the mail opens the
page that takes the name and password and creates the account.
"""
from __future__ import annotations

import hmac
import secrets

from flask import url_for
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from ..database import write_transaction
from ..errors import Conflict
from ..extensions import db
from .mail import queue_account_mail
from .models import User
from .services import (_revoke_all_tokens, create_user, find_user_by_email, validate_email,
                       validate_password)
from .tokens import (CONFIRM_MAX_AGE, RESET_MAX_AGE, InvalidLink, load_confirm_token, load_reset_token,
                     make_confirm_token, make_reset_token, password_fingerprint)

# Signs the reset token of an unknown address, so both branches sign one.
_NO_ACCOUNT_HASH = "no-account:" + secrets.token_hex(16)


def _audit(actor, action: str, obj=None, **after) -> None:
    from ..audit.services import record

    record(actor, action, obj, object_type="user", after=after or None)


# Password reset ------------------------------------------------------------

def request_password_reset(email: str | None) -> None:
    """Queue a reset link to ``email`` if it has an active account, else a
    "there is no account here" note; the caller cannot tell which.

    Raises ``ValidationFailed`` only for a malformed address (shape, not existence).
    """
    email = validate_email(email)
    user = find_user_by_email(email)
    known = user is not None and user.is_active
    if known:
        token = make_reset_token(user.id, user.password_hash)
    else:
        token = make_reset_token(0, _NO_ACCOUNT_HASH)
    link = url_for("accounts.reset_password", token=token, _external=True)
    register_link = url_for("accounts.register", _external=True)
    with write_transaction():
        if known:
            queue_account_mail("account_password_reset", email, user=user, link=link,
                               minutes=RESET_MAX_AGE // 60)
        else:
            queue_account_mail("account_password_reset_unknown", email, user=user,
                               register_link=register_link)
        _audit(user if known else None, "password_reset_requested", user if known else None,
               email=email, known=known)


def user_for_reset_token(token: str) -> User:
    """The account a reset token is valid for, else :class:`InvalidLink`."""
    user_id, fingerprint = load_reset_token(token)
    user = db.session.get(User, user_id) if user_id else None
    if user is None or not user.is_active:
        raise InvalidLink()
    if not hmac.compare_digest(password_fingerprint(user.password_hash), fingerprint):
        raise InvalidLink("used")  # the password changed since the link was sent
    return user


def reset_password(token: str, new_password: str | None) -> User:
    """Set a new password through a reset link; the link dies with the old password.

    Like a password change, every session, remember-me cookie and API token
    of the account is ended; the caller signs this browser in afresh.
    """
    user = user_for_reset_token(token)
    validate_password(new_password, field="new_password")
    new_hash = generate_password_hash(new_password)
    with write_transaction():
        # Conditional on the old hash: of two simultaneous uses of one link, one wins.
        fingerprint = load_reset_token(token)[1]
        current = db.session.get(User, user.id)
        if current is None or not hmac.compare_digest(password_fingerprint(current.password_hash), fingerprint):
            raise InvalidLink("used")
        changed = db.session.execute(
            update(User).where(User.id == current.id, User.password_hash == current.password_hash)
            .values(password_hash=new_hash, session_token=secrets.token_hex(16))
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            raise InvalidLink("used")
        _revoke_all_tokens(current)
        _audit(current, "password_reset", current)
        queue_account_mail("account_password_changed", current.email, user=current, inbox=True,
                           reset_link=url_for("accounts.forgot_password", _external=True))
    db.session.refresh(user)
    return user


# Registration --------------------------------------------------------------

def start_registration(email: str | None, *, next_path: str | None = None) -> str:
    """Send the address a link that finishes registration, or, if it already
    has an account, a reminder to sign in; returns the normalised address.

    Raises ``ValidationFailed`` only for a malformed address.
    """
    email = validate_email(email)
    user = find_user_by_email(email)
    link = url_for("accounts.finish_registration", token=make_confirm_token(email),
                   next=next_path or None, _external=True)
    login_link = url_for("accounts.login", _external=True)
    reset_link = url_for("accounts.forgot_password", _external=True)
    with write_transaction():
        if user is None:
            queue_account_mail("account_register_confirm", email, link=link,
                               hours=CONFIRM_MAX_AGE // 3600)
        else:
            queue_account_mail("account_register_exists", email, user=user,
                               login_link=login_link, reset_link=reset_link)
    return email


def email_for_confirm_token(token: str) -> str:
    """The address a confirmation link is valid for, else :class:`InvalidLink`
    (also once the account exists: a link creates one account, once)."""
    email = load_confirm_token(token)
    if find_user_by_email(email) is not None:
        raise InvalidLink("used")
    return email


def finish_registration(token: str, *, name: str | None, phone: str | None,
                        password: str | None) -> User:
    """Create the buyer account a confirmation link stands for.

    Raises :class:`InvalidLink` for a bad, expired or used link and
    ``ValidationFailed`` (on ``name``, ``phone`` or ``password``) for bad input.
    """
    email = email_for_confirm_token(token)
    try:
        return create_user(email, password or "", name or "", phone=phone)
    except Conflict as exc:
        if exc.code != "email_taken":
            raise
        raise InvalidLink("used") from None  # the same link used twice at once

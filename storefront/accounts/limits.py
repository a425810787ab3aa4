"""Sign-in throttles shared by the login page, registration, password reset and the token API.

Two limits guard password guessing: one per client IP (all attempts,
``STOREFRONT_LOGIN_LIMIT``) and one per submitted account (failed attempts
only, ``STOREFRONT_LOGIN_ACCOUNT_LIMIT``) so that spreading attempts over
many IPs does not help against a single account. Both buckets are shared by
the HTML form and ``POST /api/v1/auth/token``.
"""
from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address

from ..extensions import limiter
from ..i18n import gettext as _

DEFAULT_ACCOUNT_LIMIT = "5 per minute"
# Every reset or registration request sends a mail to the address: a tighter
# budget per address keeps the shop from being used to flood a mailbox.
DEFAULT_MAIL_LIMIT = "3 per 10 minutes;10 per day"


def _disabled() -> bool:
    # The limiter object is shared by every app in the process; the app's own
    # switch must decide, or one app with limits on turns them on for all.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def _ip_limit() -> str:
    return current_app.config.get("STOREFRONT_LOGIN_LIMIT") or "10 per minute"


def _account_limit() -> str:
    return current_app.config.get("STOREFRONT_LOGIN_ACCOUNT_LIMIT") or DEFAULT_ACCOUNT_LIMIT


def _mail_limit() -> str:
    return current_app.config.get("STOREFRONT_ACCOUNT_MAIL_LIMIT") or DEFAULT_MAIL_LIMIT


def _submitted_email() -> str:
    from .services import normalise_email

    if request.is_json:
        body = request.get_json(silent=True)
        email = body.get("email") if isinstance(body, dict) else None
    else:
        email = request.form.get("email")
    return "account:" + normalise_email(email if isinstance(email, str) else "")[:254]


def _user_key() -> str:
    from flask_login import current_user

    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return get_remote_address() or ""


def _message() -> str:
    return _("Too many attempts. Please wait a little and try again.")


def _failed(response) -> bool:
    return response.status_code == 401 or getattr(response, "_login_failed", False)


login_ip_limit = limiter.shared_limit(_ip_limit, scope="login-ip", methods=["POST"],
                                      exempt_when=_disabled, error_message=_message)
login_account_limit = limiter.shared_limit(_account_limit, scope="login-account", key_func=_submitted_email,
                                           methods=["POST"], exempt_when=_disabled,
                                           deduct_when=_failed, error_message=_message)
# Guessing the current password on a hijacked session is throttled per account too.
password_limit = limiter.shared_limit(_account_limit, scope="password-change", key_func=_user_key,
                                      methods=["POST"], exempt_when=_disabled,
                                      deduct_when=_failed, error_message=_message)
register_ip_limit = limiter.shared_limit(_ip_limit, scope="register-ip", methods=["POST"],
                                         exempt_when=_disabled, error_message=_message)

# Password reset and registration by e-mail link (see recovery.py). The
# per-address buckets count every request, known address or not, so a 429
# says nothing about whether an account exists.
reset_ip_limit = limiter.shared_limit(_ip_limit, scope="reset-ip", methods=["POST"],
                                      exempt_when=_disabled, error_message=_message)
reset_account_limit = limiter.shared_limit(_mail_limit, scope="reset-account", key_func=_submitted_email,
                                           methods=["POST"], exempt_when=_disabled, error_message=_message)
register_account_limit = limiter.shared_limit(_mail_limit, scope="register-account",
                                              key_func=_submitted_email, methods=["POST"],
                                              exempt_when=_disabled, error_message=_message)
# The pages behind a mailed link (reset, finish registration), every method.
link_ip_limit = limiter.shared_limit(_ip_limit, scope="link-ip", exempt_when=_disabled,
                                     error_message=_message)


def mark_failed(response):
    """Count this (rendered, status 200) response as a failed attempt."""
    response._login_failed = True
    return response

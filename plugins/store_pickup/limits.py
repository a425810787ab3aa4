"""Request rate limit on pickup-code entry (counter page and API share one budget per staff member).

It sits on top of the per-staff, per-location lockout after wrong codes
(``max_wrong_codes``): the lockout stops guessing at one counter, the rate
limit stops hammering the endpoint at all.
"""
from __future__ import annotations

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user

from storefront.extensions import limiter
from storefront.i18n import gettext as _

DEFAULT_VERIFY_LIMIT = "30 per minute"


def _disabled() -> bool:
    # One limiter object serves every app in the process: the app's own switch decides.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def _limit() -> str:
    return current_app.config.get("STOREFRONT_PICKUP_VERIFY_LIMIT") or DEFAULT_VERIFY_LIMIT


def _key() -> str:
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return get_remote_address() or ""


def _message() -> str:
    return _("Too many attempts. Please wait a little and try again.")


verify_limit = limiter.shared_limit(_limit, scope="store-pickup-verify", key_func=_key, methods=["POST"],
                                    exempt_when=_disabled, error_message=_message)

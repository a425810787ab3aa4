"""Errors raised by services: each has a stable machine code and an HTTP status.

Views turn them into a flash message or a form error, the API into
``{"error": {"code": ..., "message": ...}}``. Services never raise bare
``Exception`` for flow control.
"""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ValidationFailed(ServiceError):
    code = "validation_failed"
    status = 422


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class OutOfStock(Conflict):
    code = "out_of_stock"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class TransitionVetoed(Conflict):
    code = "transition_vetoed"


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"


class RateLimited(ServiceError):
    """Too many tries of something guessable (a coupon code) for now: say so next to the field."""
    code = "rate_limited"
    status = 429


class CheckoutBlocked(ServiceError):
    code = "checkout_blocked"
    status = 422

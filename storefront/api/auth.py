"""API: bearer tokens, registration and the signed-in user.

``POST /auth/register`` mails a confirmation link (the account is created
on the shop's page behind it). ``POST /auth/token`` trades an e-mail and
password for a bearer token (the plaintext is shown once; only its SHA-256
is stored). Send it as
``Authorization: Bearer <token>``. Token requests share the sign-in page's
rate limits (per IP and per account).
"""
from __future__ import annotations

from flask import g
from flask_login import current_user
from marshmallow import Schema, fields, validate

from ..accounts import recovery, services
from ..accounts.limits import (login_account_limit, login_ip_limit, register_account_limit,
                               register_ip_limit)
from ..i18n import gettext as _
from .common import ApiErrorSchema, Blueprint, UTCDateTime, token_required

blp = Blueprint("api_auth", __name__, url_prefix="", description="Sign-in tokens and the current user.")


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    phone = fields.String(dump_only=True, allow_none=True)
    role = fields.String(dump_only=True, metadata={"description": "buyer, staff or owner"})
    locale = fields.String(dump_only=True, allow_none=True)


class CredentialsSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=services.EMAIL_MAX))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=1, max=services.PASSWORD_MAX))


class RegisterSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=services.EMAIL_MAX))


class RegisterStartedSchema(Schema):
    message = fields.String(required=True)


class TokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Shown once; send as a bearer token"})
    expires_at = UTCDateTime(required=True, metadata={"description": "UTC"})
    user = fields.Nested(UserSchema, required=True)


def _token_body(user) -> dict:
    plaintext, token = services.issue_api_token(user)
    return {"token": plaintext, "expires_at": token.expires_at, "user": user}


@blp.route("/auth/token", methods=["POST"])
@login_ip_limit
@login_account_limit
@blp.arguments(CredentialsSchema)
@blp.response(201, TokenSchema)
@blp.alt_response(401, schema=ApiErrorSchema, description="invalid_credentials")
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
@blp.alt_response(429, schema=ApiErrorSchema, description="rate_limited")
def create_token(body):
    """Issue a bearer token for an e-mail and password.

    A wrong password and an unknown address give the same 401
    ``invalid_credentials`` answer.
    """
    user = services.authenticate(body["email"], body["password"])
    return _token_body(user)


@blp.route("/auth/token", methods=["DELETE"])
@token_required
@blp.response(204)
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@blp.doc(security=[{"bearerAuth": []}])
def delete_token():
    """Revoke the bearer token sent with this request."""
    services.revoke_token(g.api_token)
    return None


@blp.route("/auth/register", methods=["POST"])
@register_ip_limit
@register_account_limit
@blp.arguments(RegisterSchema)
@blp.response(202, RegisterStartedSchema)
@blp.alt_response(422, schema=ApiErrorSchema, description="validation_failed")
@blp.alt_response(429, schema=ApiErrorSchema, description="rate_limited")
def register(body):
    """Start creating a buyer account: mail the address a confirmation link.

    The link opens the shop's page that takes the name and password and
    creates the account; then ask ``POST /auth/token`` for a token. The
    answer is the same 202 for an address that already has an account (it
    is sent a reminder instead), so the API does not reveal who is a customer.
    """
    recovery.start_registration(body["email"])
    return {"message": _("Check your inbox to finish creating your account.")}


@blp.route("/me", methods=["GET"])
@token_required
@blp.response(200, UserSchema)
@blp.alt_response(401, schema=ApiErrorSchema, description="unauthorized")
@blp.doc(security=[{"bearerAuth": []}])
def me():
    """The user the bearer token belongs to."""
    return current_user._get_current_object()

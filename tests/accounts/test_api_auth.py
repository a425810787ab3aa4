from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from storefront.accounts.models import ApiToken, User
from storefront.clock import utcnow
from storefront.extensions import db
from tests.factories import PASSWORD, login, make_user


def _token(client, email, password=PASSWORD):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_issue_use_and_revoke_token(client):
    user = make_user(email="api@example.com")
    response = _token(client, " API@example.com")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["user"]["email"] == "api@example.com"
    assert body["user"]["role"] == "buyer"
    assert "password" not in body["user"] and "password_hash" not in body["user"]
    token = body["token"]
    row = db.session.execute(select(ApiToken)).scalar_one()
    assert row.user_id == user.id
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash

    me = client.get("/api/v1/me", headers=_bearer(token))
    assert me.status_code == 200
    assert me.get_json()["id"] == user.id

    assert client.delete("/api/v1/auth/token", headers=_bearer(token)).status_code == 204
    gone = client.get("/api/v1/me", headers=_bearer(token))
    assert gone.status_code == 401
    assert gone.get_json()["error"]["code"] == "unauthorized"


def test_token_expiry_comes_from_config(client):
    client.application.config["STOREFRONT_API_TOKEN_DAYS"] = 3
    try:
        make_user(email="days@example.com")
        body = _token(client, "days@example.com").get_json()
    finally:
        client.application.config["STOREFRONT_API_TOKEN_DAYS"] = 30
    row = db.session.execute(select(ApiToken)).scalar_one()
    assert timedelta(days=2) < row.expires_at - utcnow() <= timedelta(days=3)
    assert body["expires_at"].startswith(row.expires_at.isoformat()[:16])


def test_expired_token_is_refused(client):
    make_user(email="old@example.com")
    token = _token(client, "old@example.com").get_json()["token"]
    row = db.session.execute(select(ApiToken)).scalar_one()
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.get("/api/v1/me", headers=_bearer(token))
    assert response.status_code == 401


def test_bad_and_missing_tokens_are_refused(client):
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers=_bearer("sft_made-up")).status_code == 401
    assert client.delete("/api/v1/auth/token").status_code == 401


def test_session_cookie_is_not_a_token(client):
    login(client, make_user())
    response = client.get("/api/v1/me")
    assert response.status_code == 401


def test_wrong_password_and_unknown_user_answer_alike(client):
    make_user(email="known@example.com")
    wrong = _token(client, "known@example.com", "wrong password")
    unknown = _token(client, "nobody@example.com", "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"]["code"] == "invalid_credentials"
    assert db.session.execute(select(ApiToken)).first() is None


def test_bad_bodies_are_validation_failed(client):
    make_user(email="known@example.com")
    for body in ({"email": "known@example.com"}, {"password": PASSWORD}, {},
                 {"email": "known@example.com", "password": PASSWORD, "admin": True},
                 {"email": 5, "password": PASSWORD}):
        response = client.post("/api/v1/auth/token", json=body)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["code"] == "validation_failed"
    not_json = client.post("/api/v1/auth/token", data="email=x", content_type="text/plain")
    assert not_json.status_code in (415, 422)
    assert db.session.execute(select(ApiToken)).first() is None


def test_register_api_mails_a_link_and_answers_the_same_for_known_addresses(client):
    from .conftest import mailed_link, new_client, outbox

    make_user(email="known@example.com")
    fresh = client.post("/api/v1/auth/register", json={"email": "New@Example.com"})
    known = client.post("/api/v1/auth/register", json={"email": "known@example.com"})
    assert fresh.status_code == known.status_code == 202, fresh.get_json()
    assert fresh.get_data() == known.get_data()
    assert fresh.get_json()["message"]
    assert [(m.kind, m.to_address) for m in outbox()] == [
        ("account_register_confirm", "new@example.com"), ("account_register_exists", "known@example.com")]
    # The link finishes the account on the shop's page; then a token is one call away.
    link = mailed_link("account_register_confirm", "new@example.com")
    browser = new_client(client.application)
    assert browser.post(link, data={"name": "New", "password": PASSWORD, "confirm": PASSWORD}).status_code == 302
    token = _token(client, "new@example.com").get_json()["token"]
    assert client.get("/api/v1/me", headers=_bearer(token)).get_json()["email"] == "new@example.com"

    for body in ({"email": "nope"}, {}, {"email": "s@example.com", "password": PASSWORD, "name": "S"}):
        bad = client.post("/api/v1/auth/register", json=body)
        assert bad.status_code == 422, body
        assert bad.get_json()["error"]["code"] == "validation_failed"
    assert db.session.execute(select(User.email).order_by(User.id)).scalars().all() == [
        "known@example.com", "new@example.com"]
    assert len(outbox()) == 2


def test_openapi_documents_auth_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/auth/token" in spec["paths"]
    assert {"post", "delete"} <= set(spec["paths"]["/api/v1/auth/token"])
    assert "/api/v1/me" in spec["paths"]

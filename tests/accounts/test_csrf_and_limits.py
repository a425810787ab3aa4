"""CSRF on every account form and the sign-in throttles (``secure_client``)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storefront.accounts import services
from storefront.accounts.models import Address, ApiToken, User
from storefront.extensions import db, limiter
from storefront.notify.models import InboxMessage
from tests.conftest import rate_limits_on
from tests.factories import PASSWORD, make_user

from .conftest import form_token, is_signed_in, secure_login

ADDRESS = {"name": "Han Mei", "phone": "139", "line1": "1 Wensan Road"}


@pytest.fixture
def limits_on(secure_app):
    with rate_limits_on():
        yield


def _snapshot(user):
    db.session.expire_all()
    user = db.session.get(User, user.id)
    addresses = db.session.execute(select(Address.id, Address.line1, Address.is_default)
                                   .where(Address.user_id == user.id).order_by(Address.id)).all()
    unread = db.session.execute(select(func.count()).select_from(InboxMessage)
                                .where(InboxMessage.read_at.is_(None))).scalar_one()
    return (user.password_hash, user.session_token, user.name, user.phone, user.locale,
            tuple(addresses), unread,
            db.session.execute(select(func.count()).select_from(User)).scalar_one())


def test_account_forms_refuse_posts_without_csrf_token(secure_client):
    user = make_user(email="csrf@example.com")
    services.add_address(user, ADDRESS)
    services.add_address(user, {**ADDRESS, "line1": "2 Road"})
    first, second = services.list_addresses(user)
    db.session.add(InboxMessage(user_id=user.id, kind="note", subject="S", body="B"))
    db.session.commit()

    anonymous = [
        ("/account/login", {"email": user.email, "password": PASSWORD}),
        ("/account/register", {"email": "new@example.com"}),
        ("/account/password/forgot", {"email": user.email}),
    ]
    for path, data in anonymous:
        assert secure_client.post(path, data=data).status_code == 400, path
    assert not is_signed_in(secure_client)

    secure_login(secure_client, user)
    before = _snapshot(user)
    signed_in = [
        ("/account/logout", {}),
        ("/account/logout-everywhere", {}),
        ("/account/password", {"current_password": PASSWORD, "new_password": "another passphrase",
                               "confirm": "another passphrase"}),
        ("/account/profile", {"name": "Changed", "phone": "1", "locale": "vi"}),
        ("/account/addresses", {**ADDRESS, "line1": "Forged Road"}),
        (f"/account/addresses/{first.id}/edit", {**ADDRESS, "line1": "Forged Road"}),
        (f"/account/addresses/{second.id}/default", {}),
        (f"/account/addresses/{first.id}/delete", {}),
        ("/account/messages/read", {"all": "1"}),
    ]
    for path, data in signed_in:
        response = secure_client.post(path, data=data)
        assert response.status_code == 400, path
        assert "form expired" in response.get_data(as_text=True)
    assert _snapshot(user) == before
    assert is_signed_in(secure_client)


def test_account_forms_work_with_csrf_token(secure_client):
    user = make_user()
    secure_login(secure_client, user)
    token = form_token(secure_client, "/account/addresses")
    response = secure_client.post("/account/addresses", data={**ADDRESS, "csrf_token": token})
    assert response.status_code == 302
    assert [a.line1 for a in services.list_addresses(user)] == ["1 Wensan Road"]
    token = form_token(secure_client, "/account/password")
    assert secure_client.post("/account/logout", data={"csrf_token": token}).status_code == 302
    assert not is_signed_in(secure_client)


def test_login_is_rate_limited_per_ip(secure_client, limits_on, secure_app):
    limit = int(secure_app.config["STOREFRONT_LOGIN_LIMIT"].split()[0])
    token = form_token(secure_client)
    for i in range(limit):
        # A different address every time: only the per-IP limit can trip.
        response = secure_client.post("/account/login", data={
            "email": f"guess{i}@example.com", "password": "wrong-password", "csrf_token": token})
        assert response.status_code == 200, i
    blocked = secure_client.post("/account/login", data={
        "email": "another@example.com", "password": "wrong-password", "csrf_token": token})
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    assert "<html" in blocked.get_data(as_text=True)  # the shop's error page, not a bare 500


def test_login_is_rate_limited_per_account(secure_client, limits_on):
    user = make_user(email="target@example.com")
    token = form_token(secure_client)
    for _ in range(5):
        response = secure_client.post("/account/login", data={
            "email": "Target@example.com", "password": "wrong-password", "csrf_token": token})
        assert response.status_code == 200
    # Even the right password waits now...
    response = secure_client.post("/account/login", data={
        "email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429
    assert not is_signed_in(secure_client)
    # ...but another account from the same address is not locked out.
    secure_login(secure_client, make_user())


def test_successful_logins_do_not_use_up_the_account_limit(secure_client, limits_on):
    user = make_user()
    for _ in range(6):
        secure_login(secure_client, user)
        secure_client.post("/account/logout", data={"csrf_token": form_token(secure_client, "/account/profile")})


def test_token_api_is_rate_limited(secure_client, limits_on):
    make_user(email="api@example.com")
    for _ in range(5):
        response = secure_client.post("/api/v1/auth/token",
                                      json={"email": "api@example.com", "password": "wrong-password"})
        assert response.status_code == 401
    blocked = secure_client.post("/api/v1/auth/token", json={"email": "api@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    assert db.session.execute(select(ApiToken)).first() is None


def test_limits_stay_off_when_the_app_disables_them(client, secure_app):
    # The shared limiter is on (as secure_app left it, unless an app without limits was
    # created after it: rate_limits_on() says so for this test) but this app said no.
    user = make_user()
    with rate_limits_on():
        assert limiter.enabled
        for _ in range(12):
            client.post("/account/login", data={"email": user.email, "password": "wrong-password"})
        assert client.post("/account/login", data={"email": user.email, "password": PASSWORD}).status_code == 302

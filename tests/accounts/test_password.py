from __future__ import annotations

from storefront.accounts import services
from storefront.accounts.models import ApiToken
from storefront.extensions import db
from tests.factories import PASSWORD, login, make_user

from .conftest import is_signed_in, new_client

NEW = "a brand new passphrase"


def _change(client, current=PASSWORD, new=NEW, confirm=None):
    return client.post("/account/password", data={"current_password": current, "new_password": new,
                                                  "confirm": confirm if confirm is not None else new})


def _password_ok(user, password) -> bool:
    db.session.expire_all()
    return user.check_password(password)


def test_password_page_needs_sign_in(client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert "/account/login?next=" in response.headers["Location"]
    assert _change(client).status_code == 302


def test_change_needs_current_password(client):
    user = make_user()
    login(client, user)
    response = _change(client, current="not my password")
    assert response.status_code == 200
    assert "current password is not correct" in response.get_data(as_text=True)
    assert _password_ok(user, PASSWORD) and not _password_ok(user, NEW)


def test_change_rejects_short_or_mismatched_new_password(client):
    user = make_user()
    login(client, user)
    assert "field-error" in _change(client, new="short").get_data(as_text=True)
    assert "The passwords differ." in _change(client, confirm=NEW + "!").get_data(as_text=True)
    assert _password_ok(user, PASSWORD)


def test_change_signs_out_other_sessions_but_keeps_this_one(app):
    user = make_user()
    mine, other = new_client(app), new_client(app)
    login(mine, user)
    login(other, user)
    assert is_signed_in(other)
    response = _change(mine)
    assert response.status_code == 302
    assert is_signed_in(mine)
    assert not is_signed_in(other)
    assert _password_ok(user, NEW) and not _password_ok(user, PASSWORD)
    # The old password no longer signs in; the new one does.
    assert other.post("/account/login", data={"email": user.email, "password": PASSWORD}).status_code == 200
    login(other, user, password=NEW)


def test_change_invalidates_remember_me_cookie(app):
    user = make_user()
    remembered, mine = new_client(app), new_client(app)
    remembered.post("/account/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    assert remembered.get_cookie("remember_token") is not None
    # A new browser session: only the remember-me cookie is left, and it works...
    remembered.delete_cookie("session")
    assert is_signed_in(remembered)
    login(mine, user)
    _change(mine)
    # ...until the password changes.
    remembered.delete_cookie("session")
    assert not is_signed_in(remembered)


def test_change_revokes_api_tokens(client):
    user = make_user()
    token = services.issue_token(user)
    login(client, user)
    _change(client)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert db.session.execute(db.select(ApiToken)).scalar_one().revoked


def test_logout_everywhere(app):
    user = make_user()
    first, second = new_client(app), new_client(app)
    login(first, user)
    login(second, user)
    token = services.issue_token(user)
    assert first.post("/account/logout-everywhere").status_code == 302
    assert not is_signed_in(first)
    assert not is_signed_in(second)
    assert second.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    login(first, user)  # the password itself still works


def test_logout_everywhere_needs_sign_in(client):
    assert client.post("/account/logout-everywhere").status_code == 302


def test_change_renews_this_devices_remember_me_cookie(client):
    user = make_user()
    client.post("/account/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    old_cookie = client.get_cookie("remember_token").value
    _change(client)
    assert client.get_cookie("remember_token").value != old_cookie
    client.delete_cookie("session")
    assert is_signed_in(client)


def test_profile(client):
    user = make_user()
    login(client, user)
    page = client.get("/account/profile").get_data(as_text=True)
    assert user.email in page
    response = client.post("/account/profile", data={"name": "Mei", "phone": "139", "locale": "zh_Hans"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (user.name, user.phone, user.locale) == ("Mei", "139", "zh_Hans")
    bad = client.post("/account/profile", data={"name": "", "phone": "139", "locale": "xx"})
    assert bad.status_code == 200
    db.session.expire_all()
    assert user.name == "Mei"

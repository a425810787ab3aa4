"""Sessions and error pages as an attacker sees them: replayed cookies after
logout, cookies of another app, error pages without internals."""
from __future__ import annotations

import pytest

from tests.conftest import make_test_app, new_client
from tests.factories import PASSWORD, make_user


def _cookies(client) -> dict[str, str]:
    return {c.key: c.value for c in client._cookies.values()}


def _replay(app, cookies: dict[str, str]):
    thief = new_client(app)
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief.get("/account/profile")


def test_a_session_cookie_copied_before_logout_is_dead_after_it(app):
    user = make_user()
    client = new_client(app)
    client.post("/account/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    stolen = _cookies(client)
    assert _replay(app, stolen).status_code == 200  # the copy works while the session lives
    client.post("/account/logout")
    r = _replay(app, stolen)
    assert r.status_code == 302 and "/account/login" in r.headers["Location"]


def test_remember_me_cookie_alone_is_dead_after_logout(app):
    user = make_user()
    client = new_client(app)
    client.post("/account/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = {k: v for k, v in _cookies(client).items() if k == "remember_token"}
    assert remember, "remember-me cookie not set"
    assert _replay(app, remember).status_code == 200
    client.post("/account/logout")
    r = _replay(app, remember)
    assert r.status_code == 302


def test_a_session_of_another_shop_is_not_accepted(app, database_url, tmp_path):
    """Another shop (another secret key) on the same database: its cookies mean nothing here."""
    user = make_user()
    other_shop = make_test_app(database_url, str(tmp_path / "other"), SECRET_KEY="another-shop-key")
    client = new_client(other_shop)
    client.post("/account/login", data={"email": user.email, "password": PASSWORD})
    assert _replay(other_shop, _cookies(client)).status_code == 200
    r = _replay(app, _cookies(client))
    assert r.status_code == 302


@pytest.mark.parametrize("path,status", [("/no-such-page", 404), ("/admin/", 302), ("/api/v1/nothing", 404)])
def test_error_pages_show_no_internals(app, path, status):
    r = new_client(app).get(path)
    assert r.status_code == status
    body = r.get_data(as_text=True)
    for leak in ("Traceback", "sqlalchemy", "werkzeug", "File \"/", "SELECT "):
        assert leak not in body


def test_an_unhandled_error_is_a_plain_500(app, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM users -- boom")

    monkeypatch.setattr(app, "debug", False)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setitem(app.view_functions, "catalog.home", explode)
    r = new_client(app).get("/")
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert "boom" not in body and "SELECT" not in body and "Traceback" not in body

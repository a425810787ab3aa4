"""The cookie session: a cookie's signature checked once per worker, its age every time."""
from __future__ import annotations

import time
from datetime import timedelta

from itsdangerous import URLSafeTimedSerializer

from storefront import cookie_session
from tests.conftest import new_client
from tests.factories import make_user, sign_in


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _settled(client, path: str = "/orders/") -> str:
    """Visits ``path`` until the session stops changing (the first visit may add a
    CSRF token); the cookie then sent on every visit."""
    for _ in range(3):
        before = _cookie(client)
        assert client.get(path).status_code == 200
        if _cookie(client) == before:
            return before
    raise AssertionError("the session cookie kept changing")


def _count_verifications(monkeypatch) -> list:
    verified = []
    real_loads = URLSafeTimedSerializer.loads

    def loads(self, *args, **kwargs):
        verified.append(args[0])
        return real_loads(self, *args, **kwargs)

    monkeypatch.setattr(URLSafeTimedSerializer, "loads", loads)
    return verified


def test_the_same_cookie_is_verified_once(app, client, monkeypatch):
    sign_in(client, make_user())
    cookie = _settled(client)
    verified = _count_verifications(monkeypatch)
    for _ in range(3):
        page = client.get("/orders/")
        assert page.status_code == 200 and _cookie(client) == cookie
    assert verified == []
    # Another browser with the same cookie is the same buyer, read from the same kept copy.
    other = new_client(app)
    other.set_cookie("session", cookie)
    assert other.get("/orders/").status_code == 200
    assert verified == []


def test_a_kept_cookie_expires_when_the_cookie_would(app, client, monkeypatch):
    sign_in(client, make_user())
    _settled(client)
    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", timedelta(minutes=10))
    signed = time.time()
    monkeypatch.setattr(time, "time", lambda: signed + 9 * 60)
    assert client.get("/orders/").status_code == 200  # still young enough
    monkeypatch.setattr(time, "time", lambda: signed + 11 * 60)
    response = client.get("/orders/")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_a_changed_cookie_signs_nobody_in_and_is_not_kept(app, client):
    sign_in(client, make_user())
    cookie = _settled(client)
    forged = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    intruder = new_client(app)
    intruder.set_cookie("session", forged)
    response = intruder.get("/orders/")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    kept = {key[1] for key in app.session_interface._verified}
    assert cookie in kept and forged not in kept


def test_a_session_holding_a_list_is_read_afresh_each_time(app):
    """Flask's flash() appends to the session's list in place: a kept copy would show a
    message to every later request that sent the same cookie."""
    client = new_client(app)
    with client.session_transaction() as sess:
        sess["_flashes"] = [("success", "Saved.")]
    cookie = _cookie(client)
    interface = app.session_interface
    with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}) as ctx:
        first = interface.open_session(app, ctx.request)
        first["_flashes"].append(("error", "Only for this request."))
        second = interface.open_session(app, ctx.request)
    assert second["_flashes"] == [("success", "Saved.")]
    assert cookie not in {key[1] for key in interface._verified}


def test_a_worker_keeps_a_bounded_number_of_cookies(app, monkeypatch):
    monkeypatch.setattr(cookie_session, "KEPT_COOKIES", 2)
    for _ in range(4):
        client = new_client(app)
        sign_in(client, make_user())
        _settled(client)
        assert len(app.session_interface._verified) <= 2

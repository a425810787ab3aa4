"""A worker builds a signed-in request's user (and API token) from its copy of the last load
of the same session or token for a few seconds (storefront/identity_reuse.py): which
requests skip the query, and how a change to an account or a token, saved in this worker,
in another worker of the host, or from elsewhere, reaches the next request."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from storefront import identity_reuse, web
from storefront.accounts.models import ApiToken
from storefront.clock import utcnow
from storefront.extensions import db

from .checkout.helpers import api_token
from .conftest import new_client
from .factories import PASSWORD, make_user, sign_in, write_behind_sqlalchemys_back
from .fresh_worker import run_as_another_worker
from .perf.conftest import count_queries
from .races import write_held_open

ME = "/api/v1/me"
ACCOUNT = "/account/profile"


@pytest.fixture
def clock(app, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(identity_reuse, "_now", lambda: now[0])
    app.extensions[identity_reuse.EXTENSION_KEY].clear()
    return now


def _user_reads(seen) -> list[str]:
    return [s for s in seen if "FROM users" in s or "FROM api_tokens" in s]


def _signed_in(app, user):
    client = new_client(app)
    sign_in(client, user)
    return client


def _is_signed_in(client) -> bool:
    response = client.get(ACCOUNT)
    return response.status_code == 200  # else the login page's redirect


def test_a_sessions_and_a_tokens_next_requests_take_the_user_from_the_copy(app, clock):
    buyer = make_user(name="Lan Nguyen")
    browser, headers = _signed_in(app, buyer), api_token(buyer)
    assert _is_signed_in(browser) and new_client(app).get(ME, headers=headers).status_code == 200
    with count_queries() as seen:
        page = browser.get(ACCOUNT)
        me = new_client(app).get(ME, headers=headers)
    assert page.status_code == 200 and "Lan Nguyen" in page.get_data(as_text=True)
    assert me.status_code == 200 and me.get_json()["email"] == buyer.email
    assert _user_reads(seen) == []
    clock[0] += 5.01  # the window has passed: read again, then reused again
    with count_queries() as seen:
        assert _is_signed_in(browser) and _is_signed_in(browser)
        assert new_client(app).get(ME, headers=headers).status_code == 200
        assert new_client(app).get(ME, headers=headers).status_code == 200
    assert len(_user_reads(seen)) == 2


def test_zero_seconds_loads_the_user_on_every_request(app, clock, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_IDENTITY_REUSE_SECONDS", 0)
    browser = _signed_in(app, make_user())
    with count_queries() as seen:
        assert _is_signed_in(browser) and _is_signed_in(browser)
    assert len(_user_reads(seen)) == 2
    assert app.extensions[identity_reuse.EXTENSION_KEY].copies == {}


def test_signing_out_everywhere_ends_the_other_sessions_and_tokens_at_once(app, clock):
    buyer = make_user()
    phone, laptop, headers = _signed_in(app, buyer), _signed_in(app, buyer), api_token(buyer)
    assert _is_signed_in(phone) and _is_signed_in(laptop)
    assert new_client(app).get(ME, headers=headers).status_code == 200
    assert laptop.post("/account/logout-everywhere").status_code in (302, 303)
    assert not _is_signed_in(phone)
    assert new_client(app).get(ME, headers=headers).status_code == 401


def test_a_password_change_signs_the_other_sessions_out(app, clock):
    buyer = make_user()
    phone, laptop = _signed_in(app, buyer), _signed_in(app, buyer)
    assert _is_signed_in(phone) and _is_signed_in(laptop)
    response = laptop.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a-new-Passw0rd!", "confirm": "a-new-Passw0rd!"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    assert not _is_signed_in(phone)


def test_a_revoked_token_is_refused_on_its_next_request(app, clock):
    headers = api_token(make_user())
    assert new_client(app).get(ME, headers=headers).status_code == 200
    assert new_client(app).delete("/api/v1/auth/token", headers=headers).status_code in (200, 204)
    response = new_client(app).get(ME, headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_a_deactivated_account_is_signed_out_on_its_next_request(app, clock):
    buyer = make_user()
    browser, headers = _signed_in(app, buyer), api_token(buyer)
    assert _is_signed_in(browser) and new_client(app).get(ME, headers=headers).status_code == 200
    buyer.is_active_account = False  # as staff code would, through the ORM
    db.session.commit()
    assert not _is_signed_in(browser)
    assert new_client(app).get(ME, headers=headers).status_code == 401


def test_an_account_closed_by_another_worker_of_this_host_is_signed_out_here_at_once(app, clock, database_url):
    """A real second process on the same database and instance folder, as a second gunicorn worker."""
    buyer = make_user()
    browser, headers = _signed_in(app, buyer), api_token(buyer)
    assert _is_signed_in(browser) and new_client(app).get(ME, headers=headers).status_code == 200
    db.session.commit()
    run_as_another_worker(app, database_url, "from storefront.extensions import db\n"
                          "from storefront.accounts.models import User\n"
                          "from storefront.accounts.services import logout_everywhere",
                          "logout_everywhere(db.session.get(User, int(sys.argv[1])))", buyer.id)
    # No time has passed on the window's clock: only the other worker's signal can retire the copies.
    assert not _is_signed_in(browser)
    assert new_client(app).get(ME, headers=headers).status_code == 401


def test_a_write_from_elsewhere_takes_effect_once_the_window_has_passed(app, clock):
    buyer = make_user()
    browser = _signed_in(app, buyer)
    assert _is_signed_in(browser)
    write_behind_sqlalchemys_back(f"UPDATE users SET is_active_account = false WHERE id = {buyer.id}")
    clock[0] += 4.9
    assert _is_signed_in(browser)  # the copy, under five seconds old: the documented window
    clock[0] += 0.11
    assert not _is_signed_in(browser)


def test_a_token_that_expires_is_refused_though_its_copy_is_fresh(app, clock, monkeypatch):
    buyer = make_user()
    headers = api_token(buyer)
    token = db.session.execute(db.select(ApiToken).where(ApiToken.user_id == buyer.id)).scalar_one()
    token.expires_at = utcnow() + timedelta(minutes=1)
    db.session.commit()
    assert new_client(app).get(ME, headers=headers).status_code == 200
    monkeypatch.setattr(web, "utcnow", lambda: utcnow() + timedelta(minutes=2))
    assert new_client(app).get(ME, headers=headers).status_code == 401


def test_a_profile_edit_shows_on_the_next_page(app, clock):
    buyer = make_user(name="Old Name")
    browser = _signed_in(app, buyer)
    assert "Old Name" in browser.get(ACCOUNT).get_data(as_text=True)
    response = browser.post(ACCOUNT, data={"name": "Chen Jing", "phone": "13900000000", "locale": ""})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    page = browser.get(ACCOUNT).get_data(as_text=True)
    assert "Chen Jing" in page and "Old Name" not in page


def test_a_registration_retires_no_copy(app, clock):
    browser = _signed_in(app, make_user())
    assert _is_signed_in(browser)
    make_user()  # a new row: no copy can hold it
    with count_queries() as seen:
        assert _is_signed_in(browser)
    assert _user_reads(seen) == []


def test_a_read_inside_an_open_write_is_never_kept(app, clock):
    """A request reads its own uncommitted write; no other request may get that read."""
    buyer = make_user(name="Committed Name")
    db.session.commit()
    reuse = app.extensions[identity_reuse.EXTENSION_KEY]
    def rename():
        db.session.execute(text("UPDATE users SET name = 'Uncommitted' WHERE id = :id"), {"id": buyer.id})

    with write_held_open(app, "/account/profile", rename,
                         lambda: identity_reuse.session_user(buyer.id, buyer.session_token).name) as seen_inside:
        assert seen_inside == ["Uncommitted"]
        assert reuse.copies == {}
    page = _signed_in(app, buyer).get(ACCOUNT).get_data(as_text=True)
    assert "Committed Name" in page and "Uncommitted" not in page


def test_a_wrong_session_token_is_never_served_from_a_copy(app, clock):
    buyer = make_user()
    assert _is_signed_in(_signed_in(app, buyer))
    forged = new_client(app)
    with forged.session_transaction() as sess:
        sess["_user_id"] = f"{buyer.id}:{'0' * 32}"
        sess["_fresh"] = True
    assert not _is_signed_in(forged)


def test_the_copies_are_bounded_and_the_oldest_go_first(app, clock, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_IDENTITY_REUSE_ENTRIES", 2)
    first, second, third = make_user(), make_user(), make_user()
    for user in (first, second, third):
        assert _is_signed_in(_signed_in(app, user))
    kept = app.extensions[identity_reuse.EXTENSION_KEY].copies
    assert sorted(key[1] for key in kept) == sorted([second.id, third.id])


def test_each_request_gets_its_own_objects(app, clock):
    """A change a request makes to its user and never commits reaches neither the copy nor
    the next request."""
    buyer = make_user(name="Kept Name")
    buyer_id, session_token = buyer.id, buyer.session_token
    browser = _signed_in(app, buyer)
    assert _is_signed_in(browser)
    db.session.remove()  # nothing held: the objects below come from the copy
    with app.test_request_context(ACCOUNT):
        user = identity_reuse.session_user(buyer_id, session_token)
        again = identity_reuse.session_user(buyer_id, session_token)
        assert again is user  # one object per session, as a load gives
        user.name = "Changed, never committed"
    db.session.remove()
    with app.test_request_context(ACCOUNT):
        fresh = identity_reuse.session_user(buyer_id, session_token)
        assert fresh is not user and fresh.name == "Kept Name"
    db.session.remove()
    page = browser.get(ACCOUNT).get_data(as_text=True)
    assert "Kept Name" in page and "never committed" not in page

"""``csrf_reuse``: a session's signed CSRF token is signed once a minute per worker, never
handed to another session, signed anew under a rotated key, and always accepted."""
from __future__ import annotations

from flask import g, session

from storefront import csrf_reuse
from storefront.accounts.models import Address
from storefront.caching import ExpiringLRU
from storefront.extensions import db
from storefront.forms import FlaskForm
from tests.accounts.conftest import form_token, secure_login
from tests.conftest import new_client
from tests.factories import make_user

ADDRESS = {"name": "Han Mei", "phone": "139", "line1": "1 Wensan Road"}


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tokens(app, monkeypatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(csrf_reuse, "_now", clock)
    monkeypatch.setitem(app.extensions, csrf_reuse.EXTENSION_KEY, ExpiringLRU())
    return clock


def _kept(app) -> dict:
    """The worker's tokens: (signing key, raw token) -> (signed token, signed at)."""
    entries = app.extensions[csrf_reuse.EXTENSION_KEY]._entries
    return {key: (entry.value, entry.expires - csrf_reuse.REUSE_SECONDS) for key, entry in entries.items()}


def _signed_in(app):
    client = new_client(app)
    secure_login(client, make_user())
    return client


def _add_address(client, token: str) -> int:
    return client.post("/account/addresses", data={**ADDRESS, "csrf_token": token}).status_code


def _signed_at(app, client) -> float:
    """When the worker signed the token it keeps for this client's session."""
    with client.session_transaction() as stored:
        raw = stored["csrf_token"]
    (at,) = [at for (_key, kept_raw), (_token, at) in _kept(app).items() if kept_raw == raw]
    return at


def test_a_session_gets_the_same_signed_token_for_a_minute_and_it_is_accepted(secure_app, monkeypatch):
    clock = _tokens(secure_app, monkeypatch)
    client = _signed_in(secure_app)
    client.get("/cart/")  # the first page after signing in makes the session's raw token
    first = form_token(client, "/account/addresses")  # the form's own field, built in the view
    assert _signed_at(secure_app, client) == clock.now
    clock.now += csrf_reuse.REUSE_SECONDS - 1
    assert form_token(client, "/cart/") == first  # the layout's sign-out form, another page
    assert _signed_at(secure_app, client) == clock.now - csrf_reuse.REUSE_SECONDS + 1  # not signed again
    assert _add_address(client, first) == 302
    clock.now += 2
    later = form_token(client, "/account/addresses")  # signed again (the same text within a second)
    assert _signed_at(secure_app, client) == clock.now
    assert _add_address(client, later) == 302
    assert db.session.query(Address).count() == 2


def test_another_session_never_gets_its_token(secure_app, monkeypatch):
    _tokens(secure_app, monkeypatch)
    mine, theirs = _signed_in(secure_app), _signed_in(secure_app)
    my_token = form_token(mine, "/account/addresses")
    their_token = form_token(theirs, "/account/addresses")
    assert their_token != my_token
    assert _add_address(theirs, my_token) == 400  # refused: it is the other session's
    assert db.session.query(Address).count() == 0


def test_a_rotated_key_signs_anew(secure_app, monkeypatch):
    _tokens(secure_app, monkeypatch)
    client = _signed_in(secure_app)
    before = form_token(client, "/account/addresses")
    monkeypatch.setitem(secure_app.config, "SECRET_KEY_FALLBACKS", [secure_app.secret_key])
    monkeypatch.setattr(secure_app, "secret_key", "a-new-secret-key-for-this-test-0123456789")
    after = form_token(client, "/account/addresses")
    assert after != before and _add_address(client, after) == 302


def test_the_form_and_the_template_show_one_token_and_a_new_session_gets_one(secure_app, monkeypatch):
    _tokens(secure_app, monkeypatch)
    with secure_app.test_request_context("/"):
        assert "csrf_token" not in session
        fresh = csrf_reuse.csrf_token()  # no raw token yet: Flask-WTF makes one, nothing kept
        assert session["csrf_token"] and not _kept(secure_app)
    with secure_app.test_request_context("/"):
        session["csrf_token"] = "r" * 40
        form = FlaskForm()
        assert form.csrf_token.current_token == g.csrf_token == csrf_reuse.csrf_token() != fresh


def test_a_worker_keeps_a_bounded_number_of_tokens(secure_app, monkeypatch):
    _tokens(secure_app, monkeypatch)
    monkeypatch.setattr(csrf_reuse, "MAX_ENTRIES", 3)
    for n in range(5):
        with secure_app.test_request_context("/"):
            session["csrf_token"] = f"{n}" * 40
            csrf_reuse.csrf_token()
    assert [raw for _key, raw in _kept(secure_app)] == ["2" * 40, "3" * 40, "4" * 40]


def test_the_layout_shows_the_kept_token(secure_app, monkeypatch):
    """The templates' csrf_token() is this module's (Flask-WTF's context processor would
    otherwise hand them its own, which signs every time)."""
    clock = _tokens(secure_app, monkeypatch)
    client = _signed_in(secure_app)
    client.get("/orders/")
    client.get("/orders/")  # signed and kept
    with client.session_transaction() as stored:
        raw = stored["csrf_token"]
    (key,) = [key for key in _kept(secure_app) if key[1] == raw]
    secure_app.extensions[csrf_reuse.EXTENSION_KEY].put(
        key, "the-kept-token", expires=clock.now + csrf_reuse.REUSE_SECONDS, max_entries=csrf_reuse.MAX_ENTRIES)
    assert 'name="csrf_token" value="the-kept-token"' in client.get("/orders/").get_data(as_text=True)

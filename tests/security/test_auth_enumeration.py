"""Which addresses have accounts must not show in any answer: sign-in,
registration, password reset (HTML and API), with CSRF and rate limits on.

"Identical" is checked byte for byte, with the per-session CSRF tokens and
the echoed address blanked out. Timing is covered by doing the same work on
both paths: the tests count password-hash checks, token signatures, rendered
mails and written rows instead of measuring time.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from storefront.accounts import recovery, services, tokens
from storefront.accounts.limits import DEFAULT_MAIL_LIMIT
from storefront.accounts.models import User
from storefront.audit.models import AuditEntry
from storefront.extensions import db
from storefront.notify.models import OutboxMessage
from tests.accounts.conftest import form_token, without_csrf
from tests.conftest import new_client, rate_limits_on
from tests.factories import PASSWORD, make_user

KNOWN = "known@example.com"
UNKNOWN = "fresh@example.com"  # as long as KNOWN, so Content-Length may be compared too


@pytest.fixture
def limits_on(secure_app):
    with rate_limits_on():
        yield


def _normalised(response, *emails: str) -> tuple:
    body = without_csrf(response.get_data(as_text=True))
    for email in emails:
        body = body.replace(email, "EMAIL")
    # The headers that carry an answer: where it sends the visitor and what it
    # is. The session cookie (CSRF token), the remaining rate-limit budget and
    # caching headers differ with the visitor, not with the address.
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("location", "content-type")}
    return response.status_code, headers, body


def _post_form(app, path: str, data: dict):
    """A fresh visitor: GET the form (CSRF token), POST it, follow one redirect."""
    client = new_client(app)
    token = form_token(client, path)
    answer = client.post(path, data={**data, "csrf_token": token})
    page = client.get(answer.headers["Location"]) if answer.status_code == 302 else None
    return answer, page


def _counting(monkeypatch, module, names: tuple[str, ...]) -> list:
    """Record every call of ``module.<name>``; clear the returned list between runs."""
    calls: list = []
    for name in names:
        def wrapper(*args, _name=name, _original=getattr(module, name), **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
    return calls


def _rows() -> tuple[int, int]:
    db.session.commit()
    return (db.session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one(),
            db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


# Sign-in -------------------------------------------------------------------------

def test_login_answers_unknown_address_and_wrong_password_alike(secure_app, monkeypatch):
    make_user(email=KNOWN)
    answers, hash_checks = [], []
    import werkzeug.security

    for email in (KNOWN, UNKNOWN):
        calls: list = []
        monkeypatch.setattr(services, "check_password_hash",
                            lambda h, p, calls=calls: calls.append(1) or werkzeug.security.check_password_hash(h, p))
        monkeypatch.setattr("storefront.accounts.models.check_password_hash",
                            lambda h, p, calls=calls: calls.append(1) or werkzeug.security.check_password_hash(h, p))
        answer, _ = _post_form(secure_app, "/account/login", {"email": email, "password": "wrong-password"})
        answers.append(_normalised(answer, email))
        hash_checks.append(len(calls))
    assert answers[0][0] == 200
    assert answers[0] == answers[1]
    assert hash_checks == [1, 1]  # one password-hash check either way


# Password reset --------------------------------------------------------------------

def test_reset_request_answers_alike_and_does_the_same_work(secure_app, monkeypatch):
    make_user(email=KNOWN)
    results = []
    calls = _counting(monkeypatch, recovery, ("make_reset_token", "queue_account_mail", "url_for"))
    for email in (KNOWN, UNKNOWN):
        calls.clear()
        before = _rows()
        answer, page = _post_form(secure_app, "/account/password/forgot", {"email": email})
        after = _rows()
        results.append((_normalised(answer, email), _normalised(page, email), list(calls),
                        (after[0] - before[0], after[1] - before[1])))
    (known_answer, known_page, known_calls, known_rows), (unknown_answer, unknown_page, unknown_calls,
                                                          unknown_rows) = results
    assert known_answer[0] == 302 and known_page[0] == 200
    assert known_answer == unknown_answer
    assert known_page == unknown_page
    assert "If an account exists for that address" in known_page[2]
    assert sorted(known_calls) == sorted(unknown_calls)
    assert known_rows == unknown_rows == (1, 1)  # one mail, one audit entry
    kinds = db.session.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id)).scalars().all()
    assert kinds == ["account_password_reset", "account_password_reset_unknown"]


def test_reset_link_works_with_csrf_on(secure_app):
    user = make_user(email=KNOWN)
    client = new_client(secure_app)
    client.post("/account/password/forgot",
                data={"email": KNOWN, "csrf_token": form_token(client, "/account/password/forgot")})
    body = db.session.execute(select(OutboxMessage.body)).scalar_one()
    path = re.search(r"https?://[^/\s]+(/\S+)", body).group(1)
    assert client.post(path, data={"new_password": "a new passphrase", "confirm": "a new passphrase"}
                       ).status_code == 400  # no CSRF token: refused, nothing changed
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)
    token = form_token(client, path)
    response = client.post(path, data={"new_password": "a new passphrase", "confirm": "a new passphrase",
                                       "csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("a new passphrase")


def test_reset_request_is_limited_per_address_whatever_the_address(secure_client, limits_on, secure_app):
    make_user(email=KNOWN)
    limit = int(DEFAULT_MAIL_LIMIT.split()[0])
    token = form_token(secure_client, "/account/password/forgot")
    for email in (KNOWN, UNKNOWN):
        statuses = [secure_client.post("/account/password/forgot", data={"email": email, "csrf_token": token}
                                       ).status_code for _ in range(limit + 1)]
        assert statuses == [302] * limit + [429], email
    assert _rows()[0] == 2 * limit  # the blocked requests sent nothing


def test_reset_request_is_limited_per_ip(secure_client, limits_on, secure_app):
    limit = int(secure_app.config["STOREFRONT_LOGIN_LIMIT"].split()[0])
    token = form_token(secure_client, "/account/password/forgot")
    for i in range(limit):
        response = secure_client.post("/account/password/forgot",
                                      data={"email": f"user{i}@example.com", "csrf_token": token})
        assert response.status_code == 302, i
    blocked = secure_client.post("/account/password/forgot", data={"email": "other@example.com", "csrf_token": token})
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)


def test_link_pages_are_limited_per_ip(secure_client, limits_on, secure_app):
    limit = int(secure_app.config["STOREFRONT_LOGIN_LIMIT"].split()[0])
    paths = ["/account/password/reset/guess", "/account/register/confirm/guess"]
    statuses = [secure_client.get(paths[i % 2]).status_code for i in range(limit)]
    assert statuses == [400] * limit
    assert secure_client.get(paths[0]).status_code == 429
    assert secure_client.get(paths[1]).status_code == 429


# Registration ------------------------------------------------------------------

def test_registration_answers_alike_and_does_the_same_work(secure_app, monkeypatch):
    make_user(email=KNOWN)
    results = []
    calls = _counting(monkeypatch, recovery, ("make_confirm_token", "queue_account_mail", "url_for"))
    for email in (KNOWN, UNKNOWN):
        calls.clear()
        before = _rows()
        answer, page = _post_form(secure_app, "/account/register", {"email": email})
        results.append((_normalised(answer, email), _normalised(page, email), list(calls),
                        _rows()[0] - before[0]))
    known, unknown = results
    assert known[0][0] == 302 and known[1][0] == 200
    assert known[0] == unknown[0] and known[1] == unknown[1]
    assert "Check your inbox to finish creating your account" in known[1][2]
    assert known[2] == unknown[2] and known[3] == unknown[3] == 1
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_registration_is_limited_per_address(secure_client, limits_on):
    limit = int(DEFAULT_MAIL_LIMIT.split()[0])
    make_user(email=KNOWN)
    token = form_token(secure_client, "/account/register")
    for email in (KNOWN, UNKNOWN):
        statuses = [secure_client.post("/account/register", data={"email": email, "csrf_token": token}
                                       ).status_code for _ in range(limit + 1)]
        assert statuses == [302] * limit + [429], email
    api = secure_client.post("/api/v1/auth/register", json={"email": UNKNOWN})
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "rate_limited"


def test_api_registration_answers_alike(secure_client):
    make_user(email=KNOWN)
    answers = [secure_client.post("/api/v1/auth/register", json={"email": email}) for email in (KNOWN, UNKNOWN)]
    assert answers[0].status_code == 202
    assert answers[0].get_data() == answers[1].get_data()
    assert ({k: v for k, v in answers[0].headers.items() if not k.lower().startswith("x-ratelimit")}
            == {k: v for k, v in answers[1].headers.items() if not k.lower().startswith("x-ratelimit")})


def test_new_account_forms_refuse_posts_without_csrf(secure_client):
    user = make_user(email=KNOWN)
    client = secure_client
    with client.application.test_request_context():
        reset = "/account/password/reset/" + tokens.make_reset_token(user.id, user.password_hash)
        confirm = "/account/register/confirm/" + tokens.make_confirm_token(UNKNOWN)
    before = _rows()
    for path, data in [("/account/register", {"email": UNKNOWN}),
                       ("/account/password/forgot", {"email": KNOWN}),
                       (reset, {"new_password": "a new passphrase", "confirm": "a new passphrase"}),
                       (confirm, {"name": "N", "password": PASSWORD, "confirm": PASSWORD})]:
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "form expired" in response.get_data(as_text=True), path
    assert _rows() == before
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1

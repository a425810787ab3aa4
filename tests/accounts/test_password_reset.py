"""Password reset by mailed link: single use, one hour, ends every other session."""
from __future__ import annotations

from sqlalchemy import select

from storefront.accounts import services
from storefront.accounts.models import ApiToken, User
from storefront.audit.models import AuditEntry
from storefront.extensions import db
from storefront.notify.models import InboxMessage
from tests.factories import PASSWORD, login, make_user

from .conftest import is_signed_in, mailed_link, new_client, outbox

NEW = "a brand new passphrase"


def _ask(client, email):
    return client.post("/account/password/forgot", data={"email": email})


def _reset_link(client, user) -> str:
    assert _ask(client, user.email).status_code == 302
    return mailed_link("account_password_reset", user.email)


def _choose(client, link, new=NEW, confirm=None):
    return client.post(link, data={"new_password": new, "confirm": confirm if confirm is not None else new})


def _password_ok(user, password) -> bool:
    db.session.expire_all()
    return db.session.get(User, user.id).check_password(password)


def test_login_page_links_to_the_reset_form(client):
    html = client.get("/account/login").get_data(as_text=True)
    assert 'href="/account/password/forgot"' in html
    form = client.get("/account/password/forgot")
    assert form.status_code == 200 and 'name="email"' in form.get_data(as_text=True)
    assert form.headers["Cache-Control"] == "no-store"


def test_reset_happy_path(client):
    user = make_user(email="forgetful@example.com")
    response = _ask(client, "  Forgetful@Example.com ")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/password/forgot/sent")
    sent = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "If an account exists for that address, we have sent a link" in sent
    [mail] = outbox("account_password_reset")
    assert (mail.to_address, mail.user_id) == ("forgetful@example.com", user.id)
    assert _password_ok(user, PASSWORD)  # asking changes nothing

    link = mailed_link("account_password_reset", user.email)
    page = client.get(link)
    assert page.status_code == 200 and 'name="new_password"' in page.get_data(as_text=True)
    response = _choose(client, link)
    assert response.status_code == 302
    assert _password_ok(user, NEW) and not _password_ok(user, PASSWORD)
    assert is_signed_in(client)
    # A notice by mail and in the message centre, and an audit entry.
    [notice] = outbox("account_password_changed")
    assert notice.to_address == user.email and "/account/password/forgot" in notice.body
    assert db.session.execute(select(InboxMessage.kind).where(InboxMessage.user_id == user.id)
                              ).scalars().all() == ["account_password_changed"]
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.actor_id).order_by(AuditEntry.id)).all()
    assert actions == [("password_reset_requested", user.id), ("password_reset", user.id)]
    # The reset link is e-mail only: never copied into the message centre.
    assert "/password/reset/" not in " ".join(
        db.session.execute(select(InboxMessage.body)).scalars().all())
    login(new_client(client.application), user, password=NEW)


def test_link_is_single_use(client):
    user = make_user()
    link = _reset_link(client, user)
    assert _choose(client, link).status_code == 302
    other = new_client(client.application)
    for response in (other.get(link), _choose(other, link, new="attacker passphrase")):
        assert response.status_code == 400
        assert "/account/password/forgot" in response.get_data(as_text=True)
    assert _password_ok(user, NEW) and not is_signed_in(other)


def test_link_dies_when_the_password_changes_otherwise(client):
    user = make_user()
    link = _reset_link(client, user)
    newer = new_client(client.application)
    login(newer, user)
    newer.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW, "confirm": NEW})
    assert _password_ok(user, NEW)
    assert client.get(link).status_code == 400
    assert _choose(client, link, new="yet another passphrase").status_code == 400
    assert _password_ok(user, NEW)


def test_only_the_newest_password_counts_for_two_links(client):
    user = make_user()
    first = _reset_link(client, user)
    second = _reset_link(client, user)
    # Both are valid until one is used; using one kills the other.
    assert _choose(client, second).status_code == 302
    assert _choose(new_client(client.application), first, new="other passphrase").status_code == 400
    assert _password_ok(user, NEW)


def test_link_expires_after_an_hour(client):
    user = make_user()
    link = _reset_link(client, user)
    client.application.config["STOREFRONT_CLOCK_OFFSET_SECONDS"] = 3600 + 30
    try:
        assert client.get(link).status_code == 400
        assert _choose(client, link).status_code == 400
    finally:
        client.application.config["STOREFRONT_CLOCK_OFFSET_SECONDS"] = 0
    assert _password_ok(user, PASSWORD)


def test_forged_and_foreign_tokens_are_refused(client):
    user = make_user()
    link = _reset_link(client, user)
    token = link.rsplit("/", 1)[1]
    payload, _, signature = token.rpartition(".")
    tampered = [
        "/account/password/reset/" + token[:-3] + ("abc" if not token.endswith("abc") else "xyz"),
        "/account/password/reset/nonsense",
        "/account/password/reset/" + "A" * 1500,
        "/account/password/reset/" + payload[::-1] + "." + signature,
    ]
    # A registration link (another salt) is no reset link either.
    client.post("/account/register", data={"email": "fresh@example.com"})
    confirm = mailed_link("account_register_confirm", "fresh@example.com")
    tampered.append("/account/password/reset/" + confirm.rsplit("/", 1)[1])
    for bad in tampered:
        assert client.get(bad).status_code == 400, bad
        response = _choose(client, bad)
        assert response.status_code == 400, bad
        assert "This link does not work" in response.get_data(as_text=True)
    assert _password_ok(user, PASSWORD)


def test_reset_ends_old_sessions_remember_me_and_api_tokens(app):
    user = make_user()
    stolen, remembered, mine = new_client(app), new_client(app), new_client(app)
    login(stolen, user)
    remembered.post("/account/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    remembered.delete_cookie("session")
    assert is_signed_in(stolen) and is_signed_in(remembered)
    api_token = services.issue_token(user)

    link = _reset_link(mine, user)
    assert _choose(mine, link).status_code == 302
    assert is_signed_in(mine)
    assert not is_signed_in(stolen)
    remembered.delete_cookie("session")
    assert not is_signed_in(remembered)
    assert mine.get("/api/v1/me", headers={"Authorization": f"Bearer {api_token}"}).status_code == 401
    assert db.session.execute(select(ApiToken.revoked)).scalars().all() == [True]


def test_reset_signs_in_fresh_and_drops_the_old_session(app):
    user, other = make_user(), make_user()
    client = new_client(app)
    login(client, other)
    link = _reset_link(new_client(app), user)
    assert _choose(client, link).status_code == 302
    profile = client.get("/account/profile").get_data(as_text=True)
    assert user.email in profile and other.email not in profile


def test_bad_input_shows_field_errors_and_keeps_the_link(client):
    user = make_user()
    link = _reset_link(client, user)
    for new, confirm, expected in [("short", "short", "field-error"), (NEW, NEW + "!", "The passwords differ."),
                                   ("", "", "field-error"), ("x" * 200, "x" * 200, "field-error")]:
        response = _choose(client, link, new=new, confirm=confirm)
        assert response.status_code == 200, new
        assert expected in response.get_data(as_text=True), new
    assert _password_ok(user, PASSWORD) and not is_signed_in(client)
    assert _choose(client, link).status_code == 302


def test_request_form_rejects_malformed_addresses(client):
    for bad in ("", "nope", "a@b", "x" * 300 + "@example.com"):
        response = _ask(client, bad)
        assert response.status_code == 200, bad
        assert "field-error" in response.get_data(as_text=True), bad
    assert outbox() == []


def test_unknown_and_disabled_addresses_get_no_link(client):
    disabled = make_user(email="disabled@example.com")
    disabled.is_active_account = False
    db.session.commit()
    for email in ("nobody@example.com", "disabled@example.com"):
        assert _ask(client, email).status_code == 302
    assert outbox("account_password_reset") == []
    notes = outbox("account_password_reset_unknown")
    assert [n.to_address for n in notes] == ["nobody@example.com", "disabled@example.com"]
    assert all("/password/reset/" not in n.body and "/account/register" in n.body for n in notes)


def test_reset_mail_uses_the_accounts_language(client):
    user = make_user()
    user.locale = "zh_Hans"
    db.session.commit()
    _ask(client, user.email)
    [mail] = outbox("account_password_reset")
    assert mail.data["locale"] == "zh_Hans"


def _race(app, work, n: int = 2) -> list:
    """Run ``work(i)`` in ``n`` threads released together; returns results/exceptions."""
    import threading

    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            with app.test_request_context():
                barrier.wait(timeout=60)
                results[i] = work(i)
        except BaseException as exc:  # collected and checked by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_link_used_twice_at_once_changes_the_password_once(app):
    from storefront.accounts import recovery, tokens

    user = make_user()
    with app.test_request_context():
        token = tokens.make_reset_token(user.id, user.password_hash)
    db.session.commit()
    results = _race(app, lambda i: recovery.reset_password(token, f"racing passphrase {i}").id)
    wins = [i for i, r in enumerate(results) if r == user.id]
    assert len(wins) == 1, results
    assert [type(r) for r in results if r != user.id] == [tokens.InvalidLink]
    assert _password_ok(user, f"racing passphrase {wins[0]}")
    assert len(outbox("account_password_changed")) == 1


def test_one_confirmation_link_used_twice_at_once_creates_one_account(app):
    from storefront.accounts import recovery, tokens

    with app.test_request_context():
        token = tokens.make_confirm_token("twice@example.com")
    results = _race(app, lambda i: recovery.finish_registration(
        token, name=f"Racer {i}", phone=None, password=PASSWORD).id)
    assert sum(isinstance(r, int) for r in results) == 1, results
    assert [type(r) for r in results if not isinstance(r, int)] == [tokens.InvalidLink]
    db.session.commit()
    assert db.session.execute(select(User.email)).scalars().all() == ["twice@example.com"]


def test_links_are_logged_in_debug_mode_only(client, monkeypatch, caplog):
    import logging

    user = make_user()
    caplog.set_level(logging.INFO)
    _ask(client, user.email)
    assert "/account/password/reset/" not in caplog.text  # production logs never hold a link
    monkeypatch.setattr(client.application, "debug", True)
    _ask(client, user.email)
    client.post("/account/register", data={"email": "new@example.com"})
    assert "/account/password/reset/" in caplog.text
    assert "/account/register/confirm/" in caplog.text

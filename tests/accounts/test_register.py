"""Registration in two steps: the address first, the account behind the mailed link."""
from __future__ import annotations

from sqlalchemy import func, select

from storefront.accounts.models import Role, User
from storefront.extensions import db
from tests.factories import PASSWORD, make_user

from .conftest import is_signed_in, mailed_link, new_client, outbox, without_csrf

FINISH = {"name": "Li Lei", "phone": "13900000000", "password": PASSWORD, "confirm": PASSWORD}


def _register(client, email="lilei@example.com", **extra):
    return client.post("/account/register", data={"email": email, **extra})


def _count(email: str | None = None) -> int:
    query = select(func.count()).select_from(User)
    if email:
        query = query.where(User.email == email)
    return db.session.execute(query).scalar_one()


def _confirm_link(client, email="lilei@example.com", **extra) -> str:
    assert _register(client, email, **extra).status_code == 302
    return mailed_link("account_register_confirm", email.strip().lower())


def test_register_page_renders_and_links_to_sign_in(client):
    response = client.get("/account/register")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' not in html
    assert "/account/login" in html
    assert response.headers["Cache-Control"] == "no-store"


def test_step_one_creates_nothing_and_mails_a_link(client):
    response = _register(client, "  LiLei@Example.COM ")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/register/sent")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Check your inbox to finish creating your account" in page
    assert "lilei@example.com" in page
    assert _count() == 0
    assert not is_signed_in(client)
    [mail] = outbox()
    assert (mail.kind, mail.to_address, mail.user_id) == ("account_register_confirm", "lilei@example.com", None)
    assert "/account/register/confirm/" in mail.body


def test_confirmation_link_creates_the_account_once_and_signs_in(client):
    link = _confirm_link(client, "  LiLei@Example.COM ")
    page = client.get(link)
    assert page.status_code == 200
    assert "lilei@example.com" in page.get_data(as_text=True)
    response = client.post(link, data=FINISH)
    assert response.status_code == 302
    user = db.session.execute(select(User).where(User.email == "lilei@example.com")).scalar_one()
    assert (user.role, user.name, user.phone) == (Role.BUYER, "Li Lei", "13900000000")
    assert user.check_password(PASSWORD) and user.password_hash != PASSWORD
    assert is_signed_in(client)
    # The link has done its work: a second use (another browser) creates nothing.
    other = new_client(client.application)
    again = other.post(link, data={**FINISH, "name": "Intruder"})
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    assert other.get(link).status_code == 400
    assert _count() == 1 and not is_signed_in(other)


def test_known_address_gets_a_reminder_and_the_same_answer(client):
    make_user(email="taken@example.com", name="Owner")
    before = db.session.execute(select(User.password_hash, User.session_token, User.name)).all()
    fresh, known = new_client(client.application), new_client(client.application)
    answers = [_register(c, email) for c, email in ((fresh, "fresh@example.com"), (known, "Taken@Example.com"))]
    assert [a.status_code for a in answers] == [302, 302]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert answers[0].get_data() == answers[1].get_data()
    pages = [c.get(a.headers["Location"]) for c, a in zip((fresh, known), answers)]
    texts = [without_csrf(p.get_data(as_text=True)) for p in pages]
    assert texts[0].replace("fresh@example.com", "X") == texts[1].replace("taken@example.com", "X")
    # Nothing changed for the existing account; it is told how to get in instead.
    assert db.session.execute(select(User.password_hash, User.session_token, User.name)).all() == before
    assert _count("taken@example.com") == 1
    [reminder] = outbox("account_register_exists")
    assert reminder.to_address == "taken@example.com"
    assert "/account/login" in reminder.body and "/account/password/forgot" in reminder.body
    assert "/confirm/" not in reminder.body
    assert [m.to_address for m in outbox("account_register_confirm")] == ["fresh@example.com"]


def test_a_link_for_an_address_registered_meanwhile_is_dead(client):
    link = _confirm_link(client, "race@example.com")
    make_user(email="race@example.com")
    response = client.post(link, data=FINISH)
    assert response.status_code == 400
    assert _count("race@example.com") == 1 and not is_signed_in(client)


def test_finish_follows_safe_next_only(client):
    link = _confirm_link(client, next="/orders/")
    assert "next=" in link
    assert client.post(link, data=FINISH).headers["Location"] == "/orders/"
    other = new_client(client.application)
    evil = _confirm_link(other, "x2@example.com", next="//evil.example/")
    response = other.post(evil, data=FINISH)
    assert response.status_code == 302 and "evil" not in response.headers["Location"]


def test_finish_rejects_bad_input_with_field_errors(client):
    link = _confirm_link(client)
    cases = [
        ({"password": "short", "confirm": "short"}, "field-error"),
        ({"confirm": PASSWORD + "x"}, "The passwords differ."),
        ({"name": ""}, "field-error"),
        ({"phone": "1" * 40}, "field-error"),
        ({"password": "x" * 200, "confirm": "x" * 200}, "field-error"),
    ]
    for change, expected in cases:
        response = client.post(link, data={**FINISH, **change})
        assert response.status_code == 200, change
        assert expected in response.get_data(as_text=True), change
    assert _count() == 0 and not is_signed_in(client)
    assert client.post(link, data=FINISH).status_code == 302  # the link still works


def test_register_bad_email(client):
    for bad in ("not-an-email", "a@b", "two@@example.com", "sp ace@example.com", ""):
        response = _register(client, bad)
        assert response.status_code == 200, bad
        assert "field-error" in response.get_data(as_text=True), bad
    assert "Enter a valid e-mail address." in _register(client, "a@b").get_data(as_text=True)
    assert _count() == 0 and outbox() == []


def test_forged_expired_and_foreign_links_are_refused(client):
    link = _confirm_link(client)
    token = link.split("/confirm/")[1].split("?")[0]
    forged = link.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    for bad in (forged, "/account/register/confirm/nonsense", "/account/register/confirm/" + "x" * 1200):
        response = client.post(bad, data=FINISH)
        assert response.status_code == 400, bad
        assert "/account/register" in response.get_data(as_text=True)  # offers a new link
    # A password-reset token is signed with another salt: not a registration link.
    make_user(email="someone@example.com")
    client.post("/account/password/forgot", data={"email": "someone@example.com"})
    reset = mailed_link("account_password_reset", "someone@example.com")
    assert client.post("/account/register/confirm/" + reset.rsplit("/", 1)[1], data=FINISH).status_code == 400
    # After 24 hours the link has expired.
    client.application.config["STOREFRONT_CLOCK_OFFSET_SECONDS"] = 24 * 3600 + 60
    try:
        expired = client.get(link)
    finally:
        client.application.config["STOREFRONT_CLOCK_OFFSET_SECONDS"] = 0
    assert expired.status_code == 400
    assert _count() == 1  # only someone@example.com


def test_mail_speaks_the_visitors_language(client):
    client.post("/account/register?lang=zh_Hans", data={"email": "zh@example.com"})
    [mail] = outbox("account_register_confirm")
    assert mail.data["locale"] == "zh_Hans"
    make_user(email="vi@example.com").locale = "vi"
    db.session.commit()
    client.post("/account/register", data={"email": "vi@example.com"})
    [reminder] = outbox("account_register_exists")
    assert reminder.data["locale"] == "vi"

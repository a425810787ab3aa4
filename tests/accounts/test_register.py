from __future__ import annotations

from sqlalchemy import func, select

from storefront.accounts.models import Role, User
from storefront.extensions import db
from tests.factories import PASSWORD, make_user

from .conftest import is_signed_in, new_client


def _register(client, **overrides):
    data = {"name": "Li Lei", "email": "lilei@example.com", "phone": "13900000000",
            "password": PASSWORD, "confirm": PASSWORD}
    data.update(overrides)
    return client.post("/account/register", data=data)


def _count(email: str) -> int:
    return db.session.execute(select(func.count()).select_from(User).where(User.email == email)).scalar_one()


def test_register_page_renders(client):
    response = client.get("/account/register")
    assert response.status_code == 200
    assert 'name="email"' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_register_creates_buyer_and_signs_in(client):
    response = _register(client, email="  LiLei@Example.COM ")
    assert response.status_code == 302
    user = db.session.execute(select(User).where(User.email == "lilei@example.com")).scalar_one()
    assert user.role == Role.BUYER
    assert user.name == "Li Lei"
    assert user.check_password(PASSWORD)
    assert user.password_hash != PASSWORD
    assert is_signed_in(client)


def test_register_follows_safe_next_only(client):
    assert _register(client, next="/orders/").headers["Location"] == "/orders/"
    other = _register(new_client(client.application), email="x2@example.com", next="//evil.example/")
    assert "evil" not in other.headers["Location"]


def test_register_existing_email_is_refused_without_duplicate(client):
    make_user(email="taken@example.com")
    response = _register(client, email="Taken@Example.com")
    assert response.status_code == 200
    assert "cannot be registered" in response.get_data(as_text=True)
    assert _count("taken@example.com") == 1
    assert not is_signed_in(client)


def test_register_short_password(client):
    response = _register(client, password="short", confirm="short")
    assert response.status_code == 200
    assert "field-error" in response.get_data(as_text=True)
    assert _count("lilei@example.com") == 0


def test_register_bad_email(client):
    for bad in ("not-an-email", "a@b", "two@@example.com", "sp ace@example.com"):
        response = _register(client, email=bad)
        assert response.status_code == 200, bad
        assert "Enter a valid e-mail address." in response.get_data(as_text=True), bad
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_register_passwords_must_match(client):
    response = _register(client, confirm=PASSWORD + "x")
    assert response.status_code == 200
    assert "The passwords differ." in response.get_data(as_text=True)
    assert _count("lilei@example.com") == 0

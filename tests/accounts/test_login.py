from __future__ import annotations

import pytest
from sqlalchemy import select

from storefront.audit.models import AuditEntry
from storefront.extensions import db
from tests.factories import PASSWORD, login, make_user

from .conftest import is_signed_in, new_client


def _failure_text(response) -> str:
    html = response.get_data(as_text=True)
    start = html.index('role="alert"')
    return html[start:html.index("</p>", start)]


def test_login_page_renders_no_store(client):
    response = client.get("/account/login")
    assert response.status_code == 200
    assert 'name="password"' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_login_and_logout(client):
    user = make_user()
    response = login(client, user)
    assert response.headers["Location"] == "/"
    assert is_signed_in(client)
    assert client.get("/account/logout").status_code == 405  # never a GET
    assert is_signed_in(client)
    assert client.post("/account/logout").status_code == 302
    assert not is_signed_in(client)


def test_login_email_is_case_insensitive(client):
    user = make_user(email="mixed@example.com")
    response = client.post("/account/login", data={"email": " MIXED@example.com ", "password": PASSWORD})
    assert response.status_code == 302
    assert is_signed_in(client)
    assert user.id


def test_wrong_password_and_unknown_user_answer_alike(client):
    make_user(email="known@example.com")
    wrong = client.post("/account/login", data={"email": "known@example.com", "password": "wrong-password"})
    unknown = client.post("/account/login", data={"email": "nobody@example.com", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 200
    assert _failure_text(wrong) == _failure_text(unknown)
    assert "do not match" in _failure_text(wrong)
    assert not is_signed_in(client)


def test_failed_logins_are_audited_without_password(client):
    user = make_user(email="known@example.com")
    client.post("/account/login", data={"email": "known@example.com", "password": "secret-guess-1"})
    client.post("/account/login", data={"email": "nobody@example.com", "password": "secret-guess-2"})
    rows = db.session.execute(select(AuditEntry).where(AuditEntry.action == "login_failed")
                              .order_by(AuditEntry.id)).scalars().all()
    assert [r.after["email"] for r in rows] == ["known@example.com", "nobody@example.com"]
    assert rows[0].actor_id == user.id and rows[1].actor_id is None
    dumped = repr([(r.before, r.after, r.actor_label, r.object_id) for r in rows])
    assert "secret-guess" not in dumped


def test_inactive_account_cannot_sign_in(client):
    user = make_user()
    user.is_active_account = False
    db.session.commit()
    response = client.post("/account/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "do not match" in response.get_data(as_text=True)
    assert not is_signed_in(client)


def test_safe_next_is_followed(client):
    user = make_user()
    response = client.post("/account/login?next=/ignored",
                           data={"email": user.email, "password": PASSWORD, "next": "/orders/?page=2"})
    assert response.headers["Location"] == "/orders/?page=2"


@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/path", "https://evil.example", "http://evil.example/x",
    "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "javascript:alert(1)",
    "evil.example", "///evil.example", "/%0a/evil.example\n",
])
def test_open_redirects_are_refused(client, target):
    user = make_user()
    page = client.get("/account/login", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in page
    response = client.post("/account/login", data={"email": user.email, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_signed_in_user_visiting_login_is_sent_on(client):
    login(client, make_user())
    response = client.get("/account/login?next=/orders/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/orders/"


def test_login_regenerates_session_but_keeps_cart_token_and_language(client, monkeypatch):
    from storefront.cart import services as cart_services

    seen = {}

    def fake_merge(user):
        from flask import session

        seen["token"] = session.get(cart_services.SESSION_KEY)
        seen["user"] = user.id

    monkeypatch.setattr(cart_services, "merge_guest_cart", fake_merge)
    user = make_user()
    with client.session_transaction() as sess:
        sess["planted"] = "attacker"
        sess[cart_services.SESSION_KEY] = "guest-token"
        sess["locale"] = "vi"
    login(client, user)
    assert seen == {"token": "guest-token", "user": user.id}
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["locale"] == "vi"


def test_guest_cart_is_merged_on_login(client):
    from storefront.cart import services as cart_services
    from storefront.cart.models import Cart, CartLine
    from tests.factories import make_product

    sku = make_product(stock=5).skus[0]
    guest = Cart(token="guest-cart-token", data={})
    db.session.add(guest)
    db.session.flush()
    db.session.add(CartLine(cart_id=guest.id, sku_id=sku.id, quantity=2))
    db.session.commit()
    with client.session_transaction() as sess:
        sess[cart_services.SESSION_KEY] = "guest-cart-token"
    user = make_user()
    login(client, user)
    db.session.expire_all()
    cart = db.session.execute(select(Cart).where(Cart.user_id == user.id)).scalar_one()
    assert [(line.sku_id, line.quantity) for line in cart.lines] == [(sku.id, 2)]


def test_remember_me_sets_cookie(client):
    user = make_user()
    client.post("/account/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None
    other = new_client(client.application)
    other.post("/account/login", data={"email": user.email, "password": PASSWORD})
    assert other.get_cookie("remember_token") is None


def test_logout_forgets_remember_me_cookie(client):
    user = make_user()
    client.post("/account/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    client.delete_cookie("session")
    assert is_signed_in(client)  # the cookie alone signs in...
    client.post("/account/logout")
    client.delete_cookie("session")
    assert not is_signed_in(client)  # ...until the buyer signs out


def test_a_failing_cart_merge_does_not_block_sign_in(client, monkeypatch):
    from storefront.cart import services as cart_services

    def broken_merge(user):
        raise RuntimeError("cart service down")

    monkeypatch.setattr(cart_services, "merge_guest_cart", broken_merge)
    login(client, make_user())
    assert is_signed_in(client)

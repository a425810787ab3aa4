from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from storefront.accounts import services
from storefront.accounts.models import Role, User
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from tests.factories import PASSWORD, make_user


def test_create_user_normalises_and_hashes(app):
    user = services.create_user("  Owner@Example.COM ", PASSWORD, " Boss ", role="owner", phone=" 139 ")
    assert (user.email, user.name, user.role, user.phone) == ("owner@example.com", "Boss", Role.OWNER, "139")
    assert user.check_password(PASSWORD) and user.password_hash != PASSWORD


@pytest.mark.parametrize("kwargs, field", [
    ({"email": "bad"}, "email"),
    ({"password": "1234567"}, "password"),
    ({"password": "x" * 129}, "password"),
    ({"role": "emperor"}, "role"),
])
def test_create_user_rejects_bad_input(app, kwargs, field):
    args = {"email": "ok@example.com", "password": PASSWORD, "name": "Ok", **kwargs}
    with pytest.raises(ValidationFailed) as info:
        services.create_user(**args)
    assert info.value.field == field
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_create_user_email_taken(app):
    make_user(email="dup@example.com")
    with pytest.raises(Conflict) as info:
        services.create_user("DUP@example.com", PASSWORD, "Dup")
    assert info.value.code == "email_taken"


def test_simultaneous_registrations_create_one_account(app):
    results: list[str] = []
    barrier = threading.Barrier(4)

    def register():
        with app.app_context():
            barrier.wait(timeout=120)
            try:
                services.create_user("race@example.com", PASSWORD, "Racer")
                results.append("created")
            except Conflict as exc:
                results.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["created"] + ["email_taken"] * 3
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_authenticate(app):
    user = make_user(email="auth@example.com")
    assert services.authenticate("AUTH@example.com ", PASSWORD).id == user.id
    messages = set()
    for email, password in (("auth@example.com", "nope-nope"), ("ghost@example.com", PASSWORD), ("", "")):
        with pytest.raises(services.InvalidCredentials) as info:
            services.authenticate(email, password)
        messages.add(info.value.message)
        assert info.value.status == 401
    assert len(messages) == 1


def test_tokens(app):
    user = make_user()
    plaintext = services.issue_token(user)
    assert plaintext.startswith("sft_") and len(plaintext) > 40
    assert services.revoke_token(plaintext) is True
    assert services.revoke_token(plaintext) is False
    assert services.revoke_token("sft_unknown") is False


def test_update_profile(app):
    user = make_user()
    services.update_profile(user, name=" Mei ", phone="", locale="vi")
    db.session.expire_all()
    assert (user.name, user.phone, user.locale) == ("Mei", None, "vi")
    with pytest.raises(ValidationFailed) as info:
        services.update_profile(user, name="Mei", phone=None, locale="klingon")
    assert info.value.field == "locale"


def test_address_services_enforce_ownership(app):
    owner, other = make_user(), make_user()
    data = {"name": "Mei", "phone": "139", "line1": "1 Road"}
    address = services.add_address(owner, data)
    assert address.is_default
    with pytest.raises(NotFound):
        services.get_address(other, address.id)
    with pytest.raises(NotFound):
        services.update_address(other, address.id, {**data, "line1": "Hijacked"})
    with pytest.raises(NotFound):
        services.delete_address(other, address.id)
    with pytest.raises(NotFound):
        services.set_default(other, address.id)
    db.session.expire_all()
    assert address.line1 == "1 Road" and address.is_default
    with pytest.raises(ValidationFailed) as info:
        services.add_address(owner, {**data, "line1": "  "})
    assert info.value.field == "line1"


def test_cli_create_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["storefront", "create-user", "Boss@Example.com", "--role", "staff"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    user = db.session.execute(select(User).where(User.email == "boss@example.com")).scalar_one()
    assert user.role == Role.STAFF
    assert user.check_password(PASSWORD)

from __future__ import annotations

from sqlalchemy import select

from storefront.accounts.models import Address
from storefront.extensions import db
from tests.factories import login, make_user

DATA = {"name": "Han Mei", "phone": "13912345678", "province": "Zhejiang", "city": "Hangzhou",
        "district": "Xihu", "line1": "1 Wensan Road", "postcode": "310000"}


def _addresses(user) -> list[Address]:
    db.session.expire_all()
    return list(db.session.execute(select(Address).where(Address.user_id == user.id)
                                   .order_by(Address.id)).scalars())


def test_addresses_need_sign_in(client):
    assert client.get("/account/addresses").status_code == 302
    assert client.post("/account/addresses", data=DATA).status_code == 302
    assert db.session.execute(select(Address)).first() is None


def test_add_list_and_default(client):
    user = make_user()
    login(client, user)
    assert client.post("/account/addresses", data=DATA).status_code == 302
    second = {**DATA, "line1": "2 Nanshan Road"}
    assert client.post("/account/addresses", data=second).status_code == 302
    first_row, second_row = _addresses(user)
    assert first_row.is_default and not second_row.is_default  # the first one is the default

    page = client.get("/account/addresses").get_data(as_text=True)
    assert "1 Wensan Road" in page and "2 Nanshan Road" in page

    assert client.post(f"/account/addresses/{second_row.id}/default").status_code == 302
    assert [a.is_default for a in _addresses(user)] == [False, True]

    third = {**DATA, "line1": "3 Hubin Road", "is_default": "y"}
    client.post("/account/addresses", data=third)
    assert [a.is_default for a in _addresses(user)] == [False, False, True]


def test_add_with_missing_fields_shows_errors(client):
    user = make_user()
    login(client, user)
    response = client.post("/account/addresses", data={**DATA, "line1": "", "phone": ""})
    assert response.status_code == 200
    assert response.get_data(as_text=True).count('class="field-error"') == 2
    assert _addresses(user) == []


def test_edit_own_address(client):
    user = make_user()
    login(client, user)
    client.post("/account/addresses", data=DATA)
    (address,) = _addresses(user)
    page = client.get(f"/account/addresses/{address.id}/edit")
    assert page.status_code == 200 and "1 Wensan Road" in page.get_data(as_text=True)
    response = client.post(f"/account/addresses/{address.id}/edit", data={**DATA, "line1": "9 New Road",
                                                                        "is_default": "y"})
    assert response.status_code == 302
    assert _addresses(user)[0].line1 == "9 New Road"
    bad = client.post(f"/account/addresses/{address.id}/edit", data={**DATA, "name": ""})
    assert bad.status_code == 200
    assert _addresses(user)[0].name == "Han Mei"


def test_delete_default_promotes_another(client):
    user = make_user()
    login(client, user)
    client.post("/account/addresses", data=DATA)
    client.post("/account/addresses", data={**DATA, "line1": "2 Nanshan Road"})
    first, second = _addresses(user)
    assert client.post(f"/account/addresses/{first.id}/delete").status_code == 302
    (left,) = _addresses(user)
    assert left.id == second.id and left.is_default


def test_other_buyers_address_is_404_and_unchanged(client):
    owner, intruder = make_user(), make_user()
    login(client, owner)
    client.post("/account/addresses", data=DATA)
    (address,) = _addresses(owner)
    client.post("/account/logout")
    login(client, intruder)
    client.post("/account/addresses", data={**DATA, "line1": "Intruder Road"})

    assert client.get(f"/account/addresses/{address.id}/edit").status_code == 404
    assert client.post(f"/account/addresses/{address.id}/edit",
                       data={**DATA, "line1": "Hijacked"}).status_code == 404
    assert client.post(f"/account/addresses/{address.id}/default").status_code == 404
    assert client.post(f"/account/addresses/{address.id}/delete").status_code == 404
    assert client.post("/account/addresses/999999/delete").status_code == 404

    (still,) = _addresses(owner)
    assert (still.id, still.line1, still.is_default) == (address.id, "1 Wensan Road", True)
    page = client.get("/account/addresses").get_data(as_text=True)
    assert "Intruder Road" in page and "1 Wensan Road" not in page
    (mine,) = _addresses(intruder)
    assert mine.is_default  # the owner's default flip did not touch the intruder's rows either


def test_two_first_addresses_at_once_make_one_default(app):
    """A buyer saves an address from two tabs at once: exactly one becomes the default (on
    PostgreSQL both counted no address yet and both became the default)."""
    from storefront.accounts import addresses
    from storefront.accounts.models import User
    from tests.races import run_each_holding_its_first

    user_id = make_user().id

    def add(index):
        return addresses.add_address(db.session.get(User, user_id), {**DATA, "line1": f"{index} Wensan Road"}).id

    results = run_each_holding_its_first(app, "INSERT INTO addresses", [lambda: add(0), lambda: add(1)])
    assert all(isinstance(r, int) for r in results), results
    rows = _addresses(db.session.get(User, user_id))
    assert len(rows) == 2 and sum(row.is_default for row in rows) == 1


def test_an_address_id_past_the_columns_range_is_not_found(client):
    # The route's int converter has no upper bound; the look-up must answer 404, not the driver a 500.
    login(client, make_user())
    huge = 10 ** 20
    assert client.get(f"/account/addresses/{huge}/edit").status_code == 404
    assert client.post(f"/account/addresses/{huge}/delete").status_code in (302, 404)
    assert client.post(f"/account/addresses/{huge}/default").status_code in (302, 404)

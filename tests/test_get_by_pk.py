"""``database.get_by_pk`` answers as ``Session.get`` does, with a statement built once,
and ``accounts.addresses.addresses_of`` as the ``User.addresses`` relationship does."""
from __future__ import annotations

from sqlalchemy import update

from plugins.aftersales.money_models import CreditBalance
from storefront.accounts.addresses import addresses_of
from storefront.accounts.models import User
from storefront.database import get_by_pk
from storefront.extensions import db
from tests.checkout.helpers import make_address
from tests.factories import make_user
from tests.perf.conftest import count_queries


def test_a_row_or_none(app):
    buyer_id = make_user(name="Lan").id
    db.session.expunge_all()
    found = get_by_pk(User, buyer_id)
    assert found is not None and found.id == buyer_id and found.name == "Lan"
    assert get_by_pk(User, buyer_id + 1000) is None


def test_an_object_the_session_holds_costs_no_statement(app):
    buyer = make_user()
    held = db.session.get(User, buyer.id)
    with count_queries() as seen:
        assert get_by_pk(User, buyer.id) is held
    assert not seen, seen


def test_an_expired_object_is_read_again(app):
    buyer = make_user(name="Before")
    held = db.session.get(User, buyer.id)
    db.session.execute(update(User).where(User.id == buyer.id).values(name="After"))
    db.session.commit()  # expires what the session holds
    with count_queries() as seen:
        found = get_by_pk(User, buyer.id)
        assert found is held and found.name == "After" and found.email == buyer.email
    assert len(seen) == 1 and seen.matching(r"FROM users WHERE users\.id"), seen  # refreshed by the one read


def test_a_deleted_object_is_gone(app):
    buyer = make_user()
    db.session.delete(db.session.get(User, buyer.id))
    assert get_by_pk(User, buyer.id) is None


def test_a_composite_key(app):
    buyer_id = make_user().id
    db.session.add(CreditBalance(user_id=buyer_id, currency="CNY", balance=500))
    db.session.commit()
    db.session.expunge_all()
    row = get_by_pk(CreditBalance, buyer_id, "CNY")
    assert (row.user_id, row.currency, row.balance) == (buyer_id, "CNY", 500)
    assert get_by_pk(CreditBalance, buyer_id, "VND") is None


def test_addresses_in_the_relationships_order_loaded_once(app):
    buyer = make_user()
    first = make_address(buyer, line1="1 First Road").id
    second = make_address(buyer, line1="2 Second Road", is_default=True).id
    other = make_address(make_user(), line1="Someone else's").id
    buyer_id = buyer.id
    db.session.expunge_all()
    user = db.session.get(User, buyer_id)
    with count_queries() as seen:
        rows = addresses_of(user)
        again = addresses_of(user)
        related = user.addresses
    assert [a.id for a in rows] == [first, second]  # by id, as User.addresses
    assert other not in {a.id for a in rows}
    assert again is related and [a.id for a in related] == [first, second]
    assert len(seen.matching(r"FROM addresses")) == 1


def test_addresses_already_loaded_are_not_read_again(app):
    buyer = make_user()
    make_address(buyer)
    user = db.session.get(User, buyer.id)
    loaded = list(user.addresses)
    with count_queries() as seen:
        assert addresses_of(user) == loaded
    assert not seen, seen

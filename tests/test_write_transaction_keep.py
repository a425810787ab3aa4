"""``write_transaction(keep=...)``: the objects a block uses as they were read survive the
commit that opens it (and, with ``keep_after``, the one that closes it) without a reload;
everything else is expired as usual, and a kept object is still an ordinary member of
the session."""
from __future__ import annotations

from sqlalchemy import inspect, select, update

from storefront.database import keep_after_commit, keep_through_next_write, write_transaction
from storefront.extensions import db
from storefront.orders.models import Order
from tests.factories import make_product, make_user
from tests.orders.factories import make_order
from tests.perf.conftest import count_queries


def _expired(obj) -> bool:
    return bool(inspect(obj).expired_attributes)


def test_kept_objects_are_not_reloaded_and_the_rest_are(app):
    staff, buyer = make_user(role="owner"), make_user()
    product = make_product(price=1000, stock=5, skus=2)
    db.session.commit()
    skus = list(product.skus)  # loaded: they come along with the product they belong to
    staff.email, buyer.email  # noqa: B018 - loaded; the buyer's then expired by the opening commit
    with write_transaction(keep=(staff, product)):
        with count_queries() as seen:
            kept = (staff.email, product.name, [sku.code for sku in skus])
        assert not seen.matching("^SELECT"), seen
        assert _expired(buyer)
        assert buyer.email  # read again, inside the transaction
    # Still members of the session: the closing commit expired them like everything else.
    assert staff in db.session and product in db.session and all(s in db.session for s in skus)
    assert _expired(staff) and _expired(product)
    assert kept[0] == staff.email and len(kept[2]) == 2


def test_a_kept_object_shows_what_others_committed_once_the_block_ends(app):
    staff = make_user(role="owner", name="Before")
    db.session.commit()
    staff.name  # noqa: B018
    with db.engine.begin() as other:  # another request renames the staff member
        other.execute(update(type(staff)).where(type(staff).id == staff.id).values(name="After"))
    with write_transaction(keep=(staff,)):
        assert staff.name == "Before"  # as read: kept means "use it as it was read"
    assert staff.name == "After"


def test_keep_after_commit_keeps_what_the_block_wrote_and_its_changes_are_committed(app):
    buyer = make_user(name="Old")
    db.session.commit()
    with write_transaction():
        buyer.name = "New"  # an ORM change, still unflushed when the block ends
        keep_after_commit(buyer)
    with count_queries() as seen:
        assert buyer.name == "New"
    assert not seen.matching("^SELECT"), seen
    stored = db.session.execute(select(type(buyer).name).where(type(buyer).id == buyer.id)).scalar()
    assert stored == "New"
    assert buyer in db.session and buyer not in db.session.dirty


def test_a_kept_object_can_still_load_what_it_had_not_loaded(app):
    order = make_order()
    db.session.commit()
    order_id = order.id
    order.number  # noqa: B018 - its columns, not its lines
    with write_transaction(keep=(order,)):
        assert [line.order_id for line in order.lines] == [order_id] * len(order.lines) and order.lines
    assert db.session.get(Order, order_id) is order


def test_a_failed_commit_leaves_the_kept_objects_as_a_rollback_would(app):
    import pytest
    from sqlalchemy import event

    from storefront.accounts.models import User

    staff = make_user(role="owner", name="Kept")
    db.session.commit()
    staff.name  # noqa: B018

    def fail(_session):
        raise RuntimeError("the commit failed")

    with pytest.raises(RuntimeError):
        with write_transaction(keep=(staff,), keep_after=True):
            newcomer = User(email="newcomer@example.com", name="New", role="buyer", password_hash="x")
            db.session.add(newcomer)
            db.session.flush()
            keep_after_commit(newcomer)
            event.listen(db.session(), "before_commit", fail, once=True)
    assert staff in db.session and staff.name == "Kept"  # read again after the rollback
    assert newcomer not in db.session  # its INSERT was rolled back
    assert db.session.execute(select(User.id).where(User.email == "newcomer@example.com")).first() is None


def test_keep_through_next_write_keeps_for_that_write_only(app):
    staff, buyer = make_user(role="owner"), make_user()
    db.session.commit()
    staff.email, buyer.email  # noqa: B018 - both loaded
    keep_through_next_write(staff)
    with write_transaction():
        with count_queries() as seen:
            assert staff.email
        assert not seen.matching("^SELECT"), seen
        assert _expired(buyer)
    staff.email  # noqa: B018 - loaded again after the closing commit
    with write_transaction():  # the next write keeps nothing it was not given
        assert _expired(staff)


def test_what_a_keeping_commit_leaves_is_what_a_plain_commit_leaves(app):
    """Beside the kept objects, a commit that keeps some leaves the session as Session.commit
    does: the rest expired, the objects the transaction deleted detached, nothing pending."""
    staff, buyer = make_user(role="owner"), make_user()
    product = make_product(price=1000, stock=5, skus=2)
    doomed = make_order(user=buyer)
    db.session.commit()
    skus = list(product.skus)
    staff.email, buyer.email, doomed.number  # noqa: B018 - all loaded
    with write_transaction(keep=(staff, product), keep_after=True):
        db.session.delete(doomed)
        buyer.name = "Renamed"
    assert inspect(doomed).detached and doomed not in db.session
    assert not _expired(staff) and not _expired(product) and not any(_expired(s) for s in skus)
    assert _expired(buyer) and not db.session.dirty and not db.session.new and not db.session.deleted
    assert buyer.name == "Renamed"  # read again: committed

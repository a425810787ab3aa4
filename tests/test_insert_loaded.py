"""``database.insert_loaded``: rows written by one Core INSERT come back as persistent objects
that hold exactly what was written, need no reload, and are forgotten by a rollback."""
from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select

from storefront.database import insert_loaded, write_transaction
from storefront.extensions import db
from storefront.payments.models import Payment, PaymentStatus
from tests.factories import make_user
from tests.perf.conftest import count_queries


def _payment(reference: str, **extra) -> dict:
    return dict(reference=reference, idempotency_key=f"key-{reference}", provider="test",
                status=PaymentStatus.PENDING, amount=1200, currency="CNY", **extra)


def _stored(reference: str):
    return db.session.execute(select(Payment.id, Payment.amount, Payment.data, Payment.created_at,
                                     Payment.paid_at).where(Payment.reference == reference)).one_or_none()


def test_rows_come_back_in_order_complete_and_clean(app):
    buyer = make_user()
    with write_transaction():
        first, second = insert_loaded(Payment, _payment("IL-1", user_id=buyer.id), _payment("IL-2", user_id=buyer.id))
        with count_queries() as seen:
            values = [(p.reference, p.amount, p.data, p.paid_at, p.provider_ref, p.user_id) for p in (first, second)]
            created = first.created_at
        assert not seen, seen  # every column is loaded: Python defaults were applied before the INSERT
        assert values == [("IL-1", 1200, {}, None, None, buyer.id), ("IL-2", 1200, {}, None, None, buyer.id)]
        assert first.id < second.id and created is not None
        assert inspect(first).persistent and first not in db.session.dirty and not db.session.new
    db.session.expire_all()
    assert _stored("IL-1") == (first.id, 1200, {}, created, None)
    assert db.session.get(Payment, second.id).reference == "IL-2"


def test_a_rollback_forgets_them_and_their_ids_can_be_handed_out_again(app):
    with write_transaction():
        insert_loaded(Payment, _payment("IL-KEEP"))
    try:
        with write_transaction():
            (gone,) = insert_loaded(Payment, _payment("IL-GONE"))
            raise RuntimeError("abandon the checkout")
    except RuntimeError:
        pass
    assert gone not in db.session and _stored("IL-GONE") is None
    with write_transaction():
        (again,) = insert_loaded(Payment, _payment("IL-AGAIN"))
    assert again in db.session and _stored("IL-AGAIN").id == again.id


def test_a_savepoint_rollback_forgets_only_what_was_written_inside_it(app):
    with write_transaction():
        (before,) = insert_loaded(Payment, _payment("IL-OUTER"))
        try:
            with db.session.begin_nested():
                (inside,) = insert_loaded(Payment, _payment("IL-INNER"))
                raise RuntimeError("a collision inside the savepoint")
        except RuntimeError:
            pass
        assert before in db.session and inside not in db.session
        assert before.reference == "IL-OUTER"
    assert _stored("IL-OUTER").id == before.id and _stored("IL-INNER") is None


def test_a_stale_object_with_the_new_rows_key_is_replaced(app):
    """The database handed out an id an object in the session still holds (its row was
    deleted behind the session's back): the new row's object takes the key."""
    with write_transaction():
        (old,) = insert_loaded(Payment, _payment("IL-OLD"))
        old_id = old.id
    with write_transaction():
        db.session.execute(Payment.__table__.delete().where(Payment.__table__.c.id == old_id))
    with write_transaction():
        (new,) = insert_loaded(Payment, _payment("IL-NEW"))
    assert new in db.session and db.session.get(Payment, new.id) is new
    if new.id == old_id:  # SQLite reuses the rowid; PostgreSQL's sequence does not
        assert old not in db.session
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1


def test_nothing_is_written_for_no_rows(app):
    with count_queries() as seen:
        assert insert_loaded(Payment) == []
    assert not seen


def test_a_misspelt_column_is_refused_and_nothing_is_written(app):
    with pytest.raises(TypeError, match="no column attribute amout"):
        with write_transaction():
            insert_loaded(Payment, {**_payment("IL-TYPO"), "amout": 5})
    assert _stored("IL-TYPO") is None


def test_it_works_as_the_first_thing_a_worker_does(tmp_path):
    """insert_loaded builds objects without their constructor, which is what sets the
    mappers up: a fresh process whose first ORM work is this INSERT must set them up itself."""
    from tests.fresh_worker import run_fresh

    script = """
import sys
from flask_migrate import upgrade
from sqlalchemy import text
from storefront import create_app
from storefront.database import insert_loaded, write_transaction
from storefront.extensions import db
from storefront.payments.models import Payment
app = create_app(instance_path=sys.argv[1])
with app.app_context():
    upgrade(revision="heads")
with app.test_request_context("/"):
    with write_transaction():
        (payment,) = insert_loaded(Payment, dict(reference="FIRST", idempotency_key="k-first", provider="test",
                                                 status="pending", amount=100, currency="CNY"))
    print(payment.id, db.session.execute(text("SELECT reference FROM payments")).scalar_one())
"""
    assert run_fresh(script, tmp_path).split()[-2:] == ["1", "FIRST"]


def test_a_model_with_its_own_constructor_or_validators_gets_them_run(app, monkeypatch):
    """Objects are built as loaded rows only for models that leave construction to the
    ORM; one with its own __init__ (or validators) is built through it."""
    from storefront import database

    seen = []
    original = Payment.__init__

    def own_init(self, **values):
        seen.append(values["reference"])
        original(self, **values)

    monkeypatch.setattr(Payment, "__init__", own_init)
    monkeypatch.setattr(database, "_INSERT_COLUMNS", {})
    with write_transaction():
        (payment,) = insert_loaded(Payment, _payment("IL-OWN"))
    assert seen == ["IL-OWN"] and payment.reference == "IL-OWN"
    monkeypatch.setattr(Payment, "__init__", original)
    monkeypatch.setattr(database, "_INSERT_COLUMNS", {})
    with write_transaction():
        insert_loaded(Payment, _payment("IL-PLAIN"))
    assert seen == ["IL-OWN"]


def test_the_shops_models_are_built_as_loaded_rows_not_through_their_constructor(app):
    """The hot write paths' models leave construction to the ORM, so their objects are built
    as loaded rows (the constructor's change tracking cost five times the rest). SQLAlchemy's
    ``init`` event fires inside the constructor only; a check that compared the class's
    ``__init__`` with the base's (always a generated wrapper) sent every model through it."""
    from sqlalchemy import event

    from plugins.coupons.models import CouponUse
    from plugins.presale.models import PresaleOrder
    from storefront.cart.models import Cart, CartLine
    from storefront.orders.models import Order, OrderAdjustment, OrderEvent, OrderLine

    constructed = []

    def note(target, _args, _kwargs):
        constructed.append(type(target).__name__)

    models = (Payment, Order, OrderLine, OrderAdjustment, OrderEvent, CouponUse, PresaleOrder, Cart, CartLine)
    for model in models:
        event.listen(model, "init", note)
    try:
        with write_transaction():
            (payment,) = insert_loaded(Payment, _payment("IL-LOADED"))
        assert constructed == [] and payment.reference == "IL-LOADED"
        Payment(reference="IL-BUILT")  # the listener does see a constructor's call
        assert constructed == ["Payment"]
        from storefront import database
        assert all(database._insert_columns(model)[3] for model in models)
    finally:
        for model in models:
            event.remove(model, "init", note)


def test_an_object_attached_as_loaded_is_what_the_public_calls_made(app):
    """``build_loaded`` does what ``make_transient_to_detached`` and ``Session.add`` did,
    without their walk over the relationships: a persistent, clean member of the session and
    its identity map; a column left out loads when read; relationships load lazily; it can
    be changed, flushed and deleted as any loaded row."""
    from sqlalchemy.orm import object_session
    from sqlalchemy.orm.base import manager_of_class

    from storefront.joined_rows import build_loaded
    from storefront.payments.models import OrderPayment
    from tests.orders.factories import make_order

    order = make_order(user=make_user())
    with write_transaction():
        (payment,) = insert_loaded(Payment, _payment("IL-ATTACH", user_id=order.user_id))
        assert inspect(payment).expired_attributes == set()  # every column was given or defaulted
        (written,) = insert_loaded(OrderPayment, dict(order_id=order.id, payment_id=payment.id, amount=700))
        db.session.expunge(written)
        share = build_loaded(db.session(), manager_of_class(OrderPayment), dict(
            id=written.id, order_id=order.id, payment_id=payment.id, amount=700, created_at=written.created_at),
            (written.id,), ["refunded"])
        state = inspect(share)
        assert state.persistent and share in db.session and object_session(share) is db.session()
        assert state.key == inspect(OrderPayment).identity_key_from_primary_key((written.id,))
        assert db.session.identity_map.get(state.key) is share
        assert share not in db.session.dirty and share not in db.session.new and not state.modified
        with count_queries() as seen:
            assert share.refunded == 0
        assert len(seen.matching("^SELECT")) == 1  # loaded when read, as an expired column is
        with count_queries() as seen:
            assert share.payment is payment  # lazily, from the session's identity map
        assert not seen.matching("^SELECT order_payments")
        share.amount = 650
        assert share in db.session.dirty
    db.session.expire_all()
    assert db.session.get(OrderPayment, share.id).amount == 650  # the change was flushed
    with write_transaction():
        db.session.delete(share)
    assert inspect(share).detached and db.session.get(OrderPayment, share.id) is None

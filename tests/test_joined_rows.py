"""``storefront.joined_rows``: rows read in Core, handed out as the ORM's loading would."""
from __future__ import annotations

import pytest
from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.exc import MultipleResultsFound

from plugins.coupons.models import WalletCoupon
from storefront import joined_rows
from storefront.accounts.models import User
from storefront.extensions import db
from tests.factories import make_user
from tests.perf.conftest import count_queries

_BY_NAME = select(User).where(User.name == bindparam("name")).order_by(User.id.desc())


def test_scalars_are_the_sessions_objects_in_the_statements_order(app):
    first, second = make_user(name="Mai"), make_user(name="Mai")
    held = db.session.get(User, second.id)
    ids = first.id, second.id
    with count_queries() as seen:
        found = joined_rows.scalars(_BY_NAME, {"name": "Mai"})
        emails = [user.email for user in found]
    assert [user.id for user in found] == [ids[1], ids[0]] and found[0] is held
    assert len(seen) == 1 and all(inspect(user).persistent for user in found), seen
    assert emails[1] == first.email


def test_one_or_none_as_the_orm_answers(app):
    only = make_user(name="Only")
    make_user(name="Twice"), make_user(name="Twice")
    assert joined_rows.one_or_none(_BY_NAME, {"name": "Only"}) is only
    assert joined_rows.one_or_none(_BY_NAME, {"name": "Nobody"}) is None
    with pytest.raises(MultipleResultsFound):
        joined_rows.one_or_none(_BY_NAME, {"name": "Twice"})


def test_a_model_with_an_eager_relationship_is_refused(app):
    """The ORM would load WalletCoupon.coupon along (lazy="joined"); a Core read of the wallet
    alone would leave it to a query per row, so the caller must join it itself."""
    with pytest.raises(TypeError, match="coupon"):
        joined_rows.scalars(select(WalletCoupon).where(WalletCoupon.user_id == bindparam("uid")), {"uid": 1})


def test_link_leaves_what_the_session_already_loaded(app):
    buyer = make_user()
    addresses = buyer.addresses  # loaded (empty)
    joined_rows.link(buyer, "addresses", ["not used"])
    assert buyer.addresses is addresses


def test_run_flushes_what_the_session_holds_pending_before_its_statement(app):
    """As ``Session.execute`` autoflushes: an UPDATE of a model run on the connection must
    see the name set a moment before, and a new row added, or it would miss them."""
    buyer = make_user(name="Before")
    buyer.name = "Pending"
    db.session.add(User(email="new-buyer@example.com", name="Pending", password_hash="x"))
    renamed = joined_rows.run(db.session(), _RENAME, {"old": "Pending", "new": "After"})
    assert renamed.rowcount == 2
    db.session.expire_all()
    assert buyer.name == "After"


_RENAME = update(User).where(User.name == bindparam("old")).values(name=bindparam("new")).execution_options(
    synchronize_session=False)


def test_it_works_as_the_first_thing_a_worker_does(tmp_path):
    """Objects are built without their constructor, which is what would set the mappers up:
    a fresh worker whose first ORM read is a Core one (a bearer token's, a cart's) must set
    them up itself. It failed with an AttributeError in gunicorn workers before it did."""
    from tests.fresh_worker import run_fresh

    script = """
import sys
from flask_migrate import upgrade
from storefront import create_app
from storefront.extensions import db
app = create_app(instance_path=sys.argv[1])
with app.app_context():
    upgrade(revision="heads")
    from storefront.accounts.models import Role, User
    with db.engine.begin() as connection:  # Core: nothing here sets the mappers up
        connection.execute(User.__table__.insert().values(email="first@example.com", name="First", phone="",
                                                          password_hash="x", role=Role.BUYER, session_token="t"))
with app.test_request_context("/"):
    from storefront.accounts.models import User
    from storefront.database import get_by_pk
    user = get_by_pk(User, 1)
    print(user.email, user.name)
"""
    assert run_fresh(script, tmp_path).split()[-2:] == ["first@example.com", "First"]


def test_threads_meeting_an_instance_at_its_first_use_set_it_up_once(app, monkeypatch):
    """gthread workers: several threads reach a module's JoinedEntities before it is set up.
    Set up twice it listed every model twice and gave twice the objects per row, for the
    worker's whole life (the PostgreSQL deposit-flash smoke's coupon and checkout 500s)."""
    import threading
    import time

    from storefront.orders.models import Order

    threads_n = 6
    entered = threading.Barrier(threads_n)
    real_configure = joined_rows.configure_mappers

    def slow_configure():  # widens the window in which the others arrive
        time.sleep(0.05)
        real_configure()

    monkeypatch.setattr(joined_rows, "configure_mappers", slow_configure)
    entities = joined_rows.JoinedEntities(Order, User)
    widths = []

    def first_use():
        entered.wait()
        widths.append(len(entities.columns))

    threads = [threading.Thread(target=first_use) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = len(inspect(Order).local_table.columns) + len(inspect(User).local_table.columns)
    assert widths == [expected] * threads_n
    assert [span[0] for span in entities._spans] == [Order, User]


def test_load_collection_as_a_selectin_load_in_one_statement(app):
    from storefront.orders.models import Order, OrderLine
    from tests.orders.factories import make_order

    buyer = make_user()
    first, second, bare = make_order(buyer), make_order(buyer), make_order(buyer)
    db.session.add(OrderLine(order_id=first.id, product_name="Extra", sku_code="X", unit_price=1, quantity=1,
                             line_subtotal=1, paid_amount=1))
    db.session.commit()
    ids = [first.id, second.id, bare.id]
    db.session.execute(OrderLine.__table__.delete().where(OrderLine.order_id == ids[2]))
    db.session.commit()
    db.session.expunge_all()
    orders = [db.session.get(Order, i) for i in ids]
    held = list(orders[1].lines)  # loaded already: kept, not read again
    with count_queries() as seen:
        joined_rows.load_collection(orders, Order.lines)
        names = [[line.product_name for line in order.lines] for order in orders]
    assert len(seen) == 1
    assert names[0][-1] == "Extra" and len(names[0]) == 2
    assert orders[1].lines == held and names[2] == []

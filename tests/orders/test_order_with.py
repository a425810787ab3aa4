"""A single order read for its pages (``storefront.orders.queries.order_with``): the
buyer and the collections loaded in their relationships' order, in at most one
statement each, and nothing of another buyer's."""
from __future__ import annotations

import pytest

from storefront.errors import NotFound
from storefront.extensions import db
from storefront.orders import services
from storefront.orders.models import OrderAdjustment, OrderEvent, OrderNote
from storefront.orders.queries import FULL_COLLECTIONS, order_with
from storefront.orders.status import OrderStatus

from ..factories import make_product, make_user
from ..perf.conftest import count_queries
from .factories import make_order


def _order_with_everything(buyer):
    """The order's number; ``buyer`` is detached afterwards (read what you need first)."""
    first, second = make_product("First", stock=5), make_product("Second", stock=5)
    order = make_order(buyer, OrderStatus.PAID, items=[(second.skus[0], 1), (first.skus[0], 2)], discount=100)
    # Written out of order: the page must show them by position and by id.
    db.session.add_all([
        OrderAdjustment(order_id=order.id, position=2, kind="shipping", code="", label="Shipping", source="core",
                        amount=1000),
        OrderAdjustment(order_id=order.id, position=1, kind="discount", code="B", label="B", source="core",
                        amount=-50),
        OrderEvent(order_id=order.id, kind="status", actor_kind="buyer", to_status="paid"),
        OrderEvent(order_id=order.id, kind="shipped", actor_kind="staff", reason="SF 123"),
        OrderNote(order_id=order.id, author_label="Li Lei", is_staff=False, body="Leave it at the door"),
        OrderNote(order_id=order.id, author_label="Staff", is_staff=True, body="Fragile"),
    ])
    db.session.commit()
    number = order.number
    db.session.expunge_all()  # a page's request starts with an empty session
    return number


def test_the_order_comes_with_its_buyer_and_collections_in_their_order(app):
    buyer = make_user()
    email = buyer.email
    number = _order_with_everything(buyer)
    with count_queries() as seen:
        order = order_with(number)
        assert order.user.email == email
        lines = [(line.product_name, line.quantity) for line in order.lines]
        adjustments = [adj.position for adj in order.adjustments]
        events = [event.id for event in order.events]
        notes = [note.body for note in order.notes]
    assert len(seen) == 1 + len(FULL_COLLECTIONS)  # nothing loads lazily afterwards
    assert lines == [("Second", 1), ("First", 2)]  # by line id, as written
    assert adjustments == [0, 1, 2]
    assert len(events) >= 2 and events == sorted(events)
    assert notes == ["Leave it at the door", "Fragile"]
    assert all(line.order is order for line in order.lines)  # the back reference, from the session


def test_only_the_collections_asked_for_are_read(app):
    number = _order_with_everything(make_user())
    with count_queries() as seen:
        order = order_with(number, ("events",))
        assert order.events
    assert len(seen) == 2
    assert "lines" not in order.__dict__  # left to load lazily, as before


def test_a_buyer_gets_only_their_own_order(app):
    owner, other = make_user(), make_user()
    owner_id, other_id = owner.id, other.id
    number = _order_with_everything(owner)
    assert order_with(number, user_id=other_id) is None
    assert order_with(number, user_id=owner_id).number == number
    assert order_with("NO-SUCH-ORDER") is None


def test_what_this_session_already_holds_is_kept(app):
    buyer = make_user()
    number = _order_with_everything(buyer)
    held = order_with(number)
    held.buyer_note = "changed here, not flushed"  # the read autoflushes first, as the ORM's would
    unsaved = list(held.notes)
    again = order_with(number)
    assert again is held and again.notes == unsaved
    assert db.session.get(type(held), held.id).buyer_note == "changed here, not flushed"


def test_another_buyers_order_is_not_found(app):
    owner, other = make_user(), make_user()
    number = _order_with_everything(owner)
    other = db.session.merge(other)
    with app.test_request_context("/"):
        with pytest.raises(NotFound):
            services.get_buyer_order(other, number)
        owner = db.session.merge(owner)
        assert isinstance(services.get_buyer_order(owner, number).events[0], OrderEvent)


def test_a_buyers_order_list_comes_with_the_lines_in_two_statements(app):
    buyer, other = make_user(), make_user()
    first, second = make_product("First", stock=50), make_product("Second", stock=50)
    mine = [make_order(buyer, OrderStatus.PAID, items=[(second.skus[0], 1), (first.skus[0], n)])
            for n in (1, 2, 3)]
    mine.append(make_order(buyer, OrderStatus.SHIPPED, items=[(first.skus[0], 4)]))
    make_order(other, OrderStatus.PAID, items=[(first.skus[0], 5)])
    buyer_id, ids = buyer.id, [order.id for order in mine]
    db.session.expunge_all()
    buyer = db.session.get(type(buyer), buyer_id)
    with count_queries() as seen:
        page, next_after = services.buyer_orders(buyer, limit=2)
        shown = [(order.id, [(line.product_name, line.quantity) for line in order.lines]) for order in page]
    assert len(seen) == 2
    assert shown == [(ids[3], [("First", 4)]), (ids[2], [("Second", 1), ("First", 3)])]
    assert next_after == ids[2]
    rest, last = services.buyer_orders(buyer, after_id=next_after, limit=2)
    assert [order.id for order in rest] == [ids[1], ids[0]] and last is None
    paid, _ = services.buyer_orders(buyer, status="paid")
    assert [order.id for order in paid] == [ids[2], ids[1], ids[0]]
    assert services.buyer_orders(buyer, status=OrderStatus.CLOSED) == ([], None)


def test_an_after_past_the_id_range_lists_from_the_newest_not_a_500(app):
    from tests.conftest import new_client
    from tests.factories import make_staff, sign_in

    buyer, staff = make_user(), make_staff()
    number = make_order(buyer, OrderStatus.PAID).number
    huge = 10 ** 20
    assert [o.number for o in services.buyer_orders(buyer, after_id=huge)[0]] == [number]
    assert [o.number for o in services.staff_orders(after_id=huge)[0]] == [number]
    assert services.buyer_orders(buyer, after_id=-5) == ([], None)
    buyer_client, staff_client = new_client(app), new_client(app)
    sign_in(buyer_client, buyer)
    sign_in(staff_client, staff)
    for client, path in ((buyer_client, f"/orders/?after={huge}"), (buyer_client, f"/orders/?status=paid&after={huge}"),
                         (staff_client, f"/admin/orders?after={huge}")):
        page = client.get(path)
        assert page.status_code == 200 and number in page.get_data(as_text=True), path

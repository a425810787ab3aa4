from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from storefront.audit.models import AuditEntry
from storefront.errors import ConcurrentUpdate, Forbidden, InvalidTransition, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.orders import services
from storefront.i18n import format_shop_date
from storefront.notify.models import InboxMessage, OutboxMessage
from storefront.orders.models import Order, OrderEvent, OrderNote
from storefront.orders.status import CancelReason, NoteFlag, OrderStatus
from storefront.orders.transitions import Actor

from ..factories import make_product, make_staff, make_user
from .factories import make_order, stock_of

pytestmark = pytest.mark.usefixtures("request_ctx")


def events(order, kind=None):
    stmt = select(OrderEvent).where(OrderEvent.order_id == order.id)
    if kind:
        stmt = stmt.where(OrderEvent.kind == kind)
    return list(db.session.execute(stmt).scalars())


def test_close_releases_stock_once(app):
    buyer = make_user()
    product = make_product(stock=10)
    sku = product.skus[0]
    order = make_order(buyer, OrderStatus.PENDING_PAYMENT, items=[(sku, 3)])
    assert stock_of(sku.id) == 7
    services.close_order(order, CancelReason.PAYMENT_TIMEOUT, Actor.system())
    assert stock_of(sku.id) == 10
    with pytest.raises(InvalidTransition):
        services.close_order(order, CancelReason.PAYMENT_TIMEOUT, Actor.system())
    assert stock_of(sku.id) == 10
    db.session.refresh(order)
    assert order.status == OrderStatus.CLOSED and order.close_reason == "payment_timeout"
    assert order.closed_by_seller is False and order.closed_at is not None
    assert len(events(order, "status")) == 1


def test_buyer_cancels_paid_order(app):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PAID)
    sku_id = order.lines[0].sku_id
    before = stock_of(sku_id)
    services.cancel_by_buyer(order, buyer)
    assert order.status == OrderStatus.CLOSED and order.close_reason == "buyer_cancelled"
    assert stock_of(sku_id) == before + 1


@pytest.mark.parametrize("status", [OrderStatus.SHIPPED, OrderStatus.COMPLETED])
def test_buyer_cannot_cancel_after_shipment(app, status):
    buyer = make_user()
    order = make_order(buyer, status)
    with pytest.raises(services.AlreadyShipped) as info:
        services.cancel_by_buyer(order, buyer)
    assert info.value.code == "already_shipped"
    db.session.refresh(order)
    assert order.status == status


def test_buyer_cannot_cancel_closed_or_others(app):
    buyer, other = make_user(), make_user()
    closed = make_order(buyer, OrderStatus.CLOSED)
    with pytest.raises(InvalidTransition):
        services.cancel_by_buyer(closed, buyer)
    mine = make_order(buyer, OrderStatus.PAID)
    with pytest.raises(NotFound):
        services.cancel_by_buyer(mine, other)
    with pytest.raises(NotFound):
        services.confirm_receipt(mine, other)
    db.session.refresh(mine)
    assert mine.status == OrderStatus.PAID


def test_seller_cancel_needs_listed_reason(app):
    staff = make_staff()
    order = make_order(make_user(), OrderStatus.PAID)
    for bad in ("buyer_cancelled", "payment_timeout", "refunded", "plugin", "whim", ""):
        with pytest.raises(ValidationFailed) as info:
            services.cancel_by_seller(order, staff, bad, "note")
        assert info.value.field == "reason"
    with pytest.raises(ValidationFailed) as info:
        services.cancel_by_seller(order, staff, "buyer_unreachable", "   ")
    assert info.value.field == "note"
    with pytest.raises(ValidationFailed):  # duplicate only for unpaid orders
        services.cancel_by_seller(order, staff, "duplicate_order", "")
    with pytest.raises(Forbidden):
        services.cancel_by_seller(order, make_user(), "out_of_stock", "")
    db.session.refresh(order)
    assert order.status == OrderStatus.PAID
    assert events(order) == []


def test_seller_cancel_counts_and_audits(app):
    staff = make_staff()
    order = make_order(make_user(), OrderStatus.PAID)
    services.cancel_by_seller(order, staff, "buyer_unreachable", "Called 3 times over 2 hours")
    db.session.refresh(order)
    assert order.status == OrderStatus.CLOSED and order.closed_by_seller is True
    assert order.close_reason == "buyer_unreachable"
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "order.cancel")).scalar_one()
    assert entry.object_id == str(order.id) and entry.actor_id == staff.id
    assert events(order, "status")[0].reason == "Called 3 times over 2 hours"


def test_ship_order_validates_and_sets_deadline(app):
    staff = make_staff()
    order = make_order(make_user(), OrderStatus.PAID)
    with pytest.raises(ValidationFailed) as info:
        services.ship_order(order, staff, "Pigeon Post", "SF123456")
    assert info.value.field == "carrier"
    for bad in ("abc", "x" * 41, "SF 1234", "SF123;DROP", ""):
        with pytest.raises(ValidationFailed) as info:
            services.ship_order(order, staff, "SF Express", bad)
        assert info.value.field == "tracking_number"
    services.ship_order(order, staff, "sf express", " SF-12345678 ")
    db.session.refresh(order)
    assert order.status == OrderStatus.SHIPPED
    assert order.carrier == "SF Express" and order.tracking_number == "SF-12345678"
    delta = order.auto_confirm_at - order.shipped_at
    assert 13.99 < delta.total_seconds() / 86400 < 14.01
    with pytest.raises(InvalidTransition):
        services.ship_order(order, staff, "SF Express", "SF-12345678")


def test_a_shipment_tells_the_buyer_what_was_written_and_logs_the_staff_member(app):
    staff, buyer = make_staff(), make_user()
    order = make_order(buyer, OrderStatus.PAID)
    services.ship_order(order, staff, "SF Express", "SF-22334455")
    stored = db.session.execute(select(Order.status, Order.shipped_at, Order.auto_confirm_at)
                                .where(Order.id == order.id)).one()
    assert stored.status == OrderStatus.SHIPPED
    # The message was rendered before the write lock, from the values then written.
    assert (order.status, order.shipped_at, order.auto_confirm_at) == tuple(stored)
    (mail,) = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.order_id == order.id, OutboxMessage.kind == "order_shipped")).scalars()
    assert "SF Express" in mail.body and "SF-22334455" in mail.body and order.number in mail.subject
    assert format_shop_date(stored.auto_confirm_at, "medium") in mail.body
    (inbox,) = db.session.execute(select(InboxMessage).where(InboxMessage.order_id == order.id)).scalars()
    assert inbox.user_id == buyer.id and inbox.body == mail.body
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "order.ship")).scalar_one()
    assert (entry.actor_id, entry.actor_label, entry.object_id) == (staff.id, staff.email, str(order.id))


def test_an_order_closed_after_staff_read_it_is_not_shipped(app):
    staff = make_staff()
    order = make_order(make_user(), OrderStatus.PAID)
    assert order.status == OrderStatus.PAID  # what the staff member's page showed
    with db.engine.begin() as other:  # the buyer's cancellation commits meanwhile
        other.execute(update(Order).where(Order.id == order.id).values(status=OrderStatus.CLOSED))
    with pytest.raises(ConcurrentUpdate):
        services.ship_order(order, staff, "SF Express", "SF-22334455")
    assert db.session.execute(select(Order.status).where(Order.id == order.id)).scalar() == OrderStatus.CLOSED
    assert db.session.execute(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.order_id == order.id)).scalar() == 0
    assert db.session.execute(select(func.count()).select_from(InboxMessage)
                              .where(InboxMessage.order_id == order.id)).scalar() == 0
    assert db.session.execute(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "order.ship")).scalar() == 0
    assert events(order, "status") == []


def test_shipping_an_order_that_already_shipped_is_refused_without_the_write_lock(app):
    from tests.perf.conftest import no_write_transaction

    staff = make_staff()
    order = make_order(make_user(), OrderStatus.SHIPPED)
    order.status  # noqa: B018 - as the staff member's page showed it
    with no_write_transaction(), pytest.raises(InvalidTransition) as info:
        services.ship_order(order, staff, "SF Express", "SF-22334455")
    assert info.value.details == {"from": "shipped", "to": "shipped"}


def test_ship_requires_staff_and_paid(app):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    with pytest.raises(Forbidden):
        services.ship_order(order, buyer, "SF Express", "SF12345678")
    with pytest.raises(InvalidTransition):
        services.ship_order(order, make_staff(), "SF Express", "SF12345678")


def test_confirm_receipt(app):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.SHIPPED)
    services.confirm_receipt(order, buyer)
    assert order.status == OrderStatus.COMPLETED and order.completed_at is not None
    with pytest.raises(InvalidTransition):
        services.confirm_receipt(order, buyer)


def test_extend_auto_confirm(app):
    staff = make_staff()
    order = make_order(make_user(), OrderStatus.SHIPPED)
    old = order.auto_confirm_at
    services.extend_auto_confirm(order, staff)
    db.session.refresh(order)
    assert (order.auto_confirm_at - old).days == 10 and order.auto_confirm_extended == 1
    assert len(events(order, "auto_confirm_extended")) == 1
    paid = make_order(make_user(), OrderStatus.PAID)
    with pytest.raises(InvalidTransition):
        services.extend_auto_confirm(paid, staff)


def test_notes(app):
    buyer, staff, other = make_user(), make_staff(), make_user()
    order = make_order(buyer, OrderStatus.PAID)
    services.add_note(order, staff, "Address changed to Room 2", NoteFlag.RED, is_staff=True)
    services.add_note(order, buyer, "Please ring twice", NoteFlag.RED, is_staff=False)
    with pytest.raises(NotFound):
        services.add_note(order, other, "hi", is_staff=False)
    with pytest.raises(Forbidden):
        services.add_note(order, buyer, "hi", NoteFlag.BLUE, is_staff=True)
    with pytest.raises(ValidationFailed):
        services.add_note(order, staff, "hi", "orange", is_staff=True)
    with pytest.raises(ValidationFailed):
        services.add_note(order, buyer, "  ", is_staff=False)
    notes = list(db.session.execute(select(OrderNote).order_by(OrderNote.id)).scalars())
    assert [(n.is_staff, n.flag) for n in notes] == [(True, NoteFlag.RED), (False, NoteFlag.NONE)]
    assert [e.public for e in events(order, "note")] == [False, True]


def test_two_staff_reminding_at_once_send_one_reminder(app):
    """Two staff click 催单 on the same order at the same moment: one reminder goes out, the
    other is told the buyer was just reminded (on PostgreSQL both saw no earlier reminder)."""
    from storefront.orders.models import Order

    from ..races import run_each_holding_its_first

    staff_ids = [make_staff().id, make_staff().id]
    order_id = make_order(make_user(), OrderStatus.PENDING_PAYMENT).id

    def remind(index):
        from storefront.accounts.models import User

        order = db.session.get(Order, order_id)
        return services.remind_unpaid(order, db.session.get(User, staff_ids[index])).kind

    results = run_each_holding_its_first(app, "INSERT INTO order_events",
                                         [lambda: remind(0), lambda: remind(1)])
    refused = [r for r in results if not isinstance(r, str)]
    assert len(refused) == 1 and getattr(refused[0], "code", None) == "reminded_recently", results
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)
                             .where(OrderEvent.kind == "payment_reminder")) == 1


def test_remind_unpaid(app):
    staff = make_staff()
    order = make_order(make_user(), OrderStatus.PENDING_PAYMENT)
    services.remind_unpaid(order, staff)
    assert len(events(order, "payment_reminder")) == 1
    with pytest.raises(Exception) as info:
        services.remind_unpaid(order, staff)
    assert info.value.code == "reminded_recently"
    paid = make_order(make_user(), OrderStatus.PAID)
    with pytest.raises(InvalidTransition):
        services.remind_unpaid(paid, staff)
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 1

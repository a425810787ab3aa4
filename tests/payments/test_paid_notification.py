"""A confirmed payment's "paid" notification is rendered before the write lock, as the
order reads once paid; what the transaction then decides is what is written."""
from __future__ import annotations

import threading

from sqlalchemy import select

from storefront.database import write_transaction
from storefront.extensions import db
from storefront.i18n import format_shop_datetime
from storefront.notify.models import InboxMessage, OutboxMessage
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.orders.transitions import SYSTEM, transition
from storefront.payments import services
from storefront.payments.models import Payment, PaymentStatus
from tests.races import start_thread

from ..checkout.helpers import fresh
from .test_payments import pay, placed

WAIT = 30  # seconds; far above any step here, so only a real stall trips it


def _messages(kind: str):
    return (db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == kind)).scalars().all(),
            db.session.execute(select(InboxMessage).where(InboxMessage.kind == kind)).scalars().all())


def test_the_paid_message_shows_the_ship_by_the_order_was_given(app):
    user, reference, order_id = placed(app)
    pay(app, reference)
    fresh()
    order = db.session.get(Order, order_id)
    assert order.status == OrderStatus.PAID and order.ship_by is not None
    payment = db.session.execute(select(Payment).where(Payment.reference == reference)).scalar_one()
    assert payment.paid_at is not None and order.paid_total == order.total
    (mail,), (inbox,) = _messages("order_paid")
    with app.test_request_context():
        shown = format_shop_datetime(order.ship_by, "short")
    assert f"It will ship by {shown}." in mail.body and order.number in mail.subject
    assert (mail.to_address, mail.user_id, mail.order_id) == (user.email, user.id, order_id)
    assert (inbox.subject, inbox.body, inbox.user_id) == (mail.subject, mail.body, user.id)


def test_an_order_closed_after_the_confirmation_read_it_gets_no_paid_message(app, monkeypatch):
    """The message was rendered as paid, then the order timed out before the payment's
    write lock: the order stays closed, the money is refunded, and nothing says "paid"."""
    _user, reference, order_id = placed(app)
    rendered, closed = threading.Event(), threading.Event()
    prepare = services._prepare_paid

    def prepare_then_wait(rows, paid_at):
        ready = prepare(rows, paid_at)
        assert ready, "the order was read pending and this payment completes it"
        rendered.set()
        assert closed.wait(WAIT), "the order was never closed"
        return ready

    monkeypatch.setattr(services, "_prepare_paid", prepare_then_wait)
    results: dict = {}
    confirm = start_thread(app, "confirm", lambda: pay(app, reference).status, results)
    assert rendered.wait(WAIT), "the confirmation never rendered"
    with app.test_request_context():
        with write_transaction():
            transition(db.session.get(Order, order_id), OrderStatus.CLOSED, actor=SYSTEM,
                       reason="payment timeout", values={"close_reason": "payment_timeout"})
    closed.set()
    confirm.join(WAIT)
    assert not confirm.is_alive() and results == {"confirm": PaymentStatus.PAID}, results
    fresh()
    order = db.session.get(Order, order_id)
    assert order.status == OrderStatus.CLOSED and order.ship_by is None and order.paid_at is None
    assert order.refunded_total == order.total
    assert _messages("order_paid") == ([], [])
    assert "payment_after_close" in [event.kind for event in order.events]


def test_a_rendered_order_reads_as_it_was_until_its_transaction_decides(app, monkeypatch):
    """Rendering shows the order as paid for the template only: a transaction that then
    refuses the payment (the claim lost) leaves the object as it was read, unchanged."""
    _user, reference, order_id = placed(app)
    seen = {}
    prepare = services._prepare_paid

    def record(rows, paid_at):
        ready = prepare(rows, paid_at)
        order = rows[0][1]
        seen.update(status=order.status, paid_total=order.paid_total, ship_by=order.ship_by,
                    dirty=db.session.is_modified(order))
        return ready

    monkeypatch.setattr(services, "_prepare_paid", record)
    pay(app, reference)
    assert seen == {"status": OrderStatus.PENDING_PAYMENT, "paid_total": 0, "ship_by": None, "dirty": False}

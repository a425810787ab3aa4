"""``payments.data`` is JSON written back whole: a failed attempt and a confirmation
of the same payment at once must not erase each other's keys (docs/architecture.md,
principle 5).

The case that matters: the order closed unpaid (timeout), then the buyer's payment
arrives. The confirmation commits a ``needs_refund`` marker before it calls the
provider; if its worker dies in between, that marker is all the owed-refunds sweep
has to give the money back. A failure callback that read ``data`` before that commit
and wrote it back after would erase it (PostgreSQL, READ COMMITTED).

The interleavings are forced with events, and run on both databases. Every wait has
a timeout, so a broken lock order fails the test instead of hanging it.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, text

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.services import close_order
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor
from storefront.payments import services as pay
from storefront.payments.models import OrderPayment, Payment, PaymentStatus, Refund
from storefront.payments.owed import start_owed_refunds
from tests.factories import make_user
from tests.orders.factories import make_order, reload
from tests.races import signal_when_queued, start_thread

WAIT = 30  # seconds; far above any step here, so only a real stall trips it
REFERENCE = "PAYRACE0001"


def _late_payment_for_a_closed_order() -> tuple[int, int, int]:
    """A pending payment whose only order has just timed out unpaid: (order id, payment id, total)."""
    buyer = make_user()
    order = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    payment = Payment(reference=REFERENCE, idempotency_key="race-key-0001", user_id=buyer.id, provider="test",
                      status=PaymentStatus.PENDING, amount=order.total, currency=order.currency, data={})
    db.session.add(payment)
    db.session.flush()
    order.payment_id = payment.id
    db.session.add(OrderPayment(order_id=order.id, payment_id=payment.id, amount=order.total, refunded=0))
    db.session.commit()
    close_order(order, CancelReason.PAYMENT_TIMEOUT, Actor.system("test"))
    ids = order.id, payment.id, order.total
    db.session.rollback()  # the test thread holds no snapshot or lock while the workers run
    return ids


def _worker_dies_after_commit(monkeypatch) -> None:
    """The confirming worker dies between its commit and the provider call.

    Only ``confirm_payment``'s own call is replaced: the sweep imported the real one."""
    monkeypatch.setattr(pay, "_refund_late", lambda *args, **kwargs: None)


def _pause_first_utcnow(monkeypatch, thread_name: str, reached: threading.Event, go_on: threading.Event) -> None:
    """The named thread's first ``utcnow()`` inside the payment services signals ``reached``
    and waits for ``go_on``: a point between a read of ``data`` and its write."""
    real = pay.utcnow

    def utcnow_hook():
        if threading.current_thread().name == thread_name and not reached.is_set():
            reached.set()
            if not go_on.wait(WAIT):
                raise AssertionError(f"{thread_name} was never let go on")
        return real()

    monkeypatch.setattr(pay, "utcnow", utcnow_hook)


def _join(threads) -> None:
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), f"{thread.name} is stuck"
    db.session.rollback()  # a fresh snapshot for the checks


def _fail(payment_id: int):
    return pay.record_failure(db.session.get(Payment, payment_id), "declined").status


def _confirm(total: int):
    return pay.confirm_payment("PROVREF-1", total, payment_reference=REFERENCE).status


def _payment(payment_id: int) -> Payment:
    return db.session.get(Payment, payment_id, populate_existing=True)


def _waits_for_a_lock(confirm_begins: threading.Event) -> bool:
    """Whether the confirmation is blocked by the paused failure (nothing else runs meanwhile)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'")).scalar())
    # SQLite: record_failure took the write lock (the writers' queue, then BEGIN IMMEDIATE)
    # with its read, so a confirmation starting its own write transaction can only wait for it.
    return confirm_begins.is_set()


def test_a_failure_recorded_while_a_late_payment_confirms_keeps_the_refund_marker(app, monkeypatch):
    """record_failure reads ``data``; the confirmation then runs; only then may record_failure write.

    Without a lock the confirmation commits in between and the failure's write erases
    ``needs_refund``. With the locked read the confirmation has to wait for the failure,
    and adds its marker to the failure count instead."""
    order_id, payment_id, total = _late_payment_for_a_closed_order()
    _worker_dies_after_commit(monkeypatch)
    failure_read, failure_may_write, confirm_done = threading.Event(), threading.Event(), threading.Event()
    _pause_first_utcnow(monkeypatch, "fail", failure_read, failure_may_write)
    confirm_begins = signal_when_queued(monkeypatch, "confirm")

    def confirm():
        assert failure_read.wait(WAIT), "record_failure never read the payment"
        return _confirm(total)

    results: dict = {}
    threads = [start_thread(app, "fail", lambda: _fail(payment_id), results),
               start_thread(app, "confirm", confirm, results, confirm_done)]
    try:
        # Let the failure write once the confirmation has committed, or once it is
        # waiting for the failure's lock (then it cannot commit before the write).
        deadline = time.monotonic() + WAIT
        while not (confirm_done.is_set() or _waits_for_a_lock(confirm_begins)):
            assert time.monotonic() < deadline, "the confirmation neither finished nor waited"
            time.sleep(0.01)
    finally:
        failure_may_write.set()
    _join(threads)

    assert results["confirm"] == PaymentStatus.PAID, results
    payment = _payment(payment_id)
    assert payment.status == PaymentStatus.PAID
    assert payment.data.get("needs_refund") == [{"order_id": order_id, "amount": total, "refund_id": None}]
    assert payment.data["failures"] == 1 and payment.data["last_failure"]["message"] == "declined"
    assert results["fail"] == PaymentStatus.PENDING, results  # recorded first: the confirmation waited
    order = reload(order_id)
    assert order.status == OrderStatus.CLOSED and order.paid_total == total and order.refunded_total == 0

    # The marker is what lets the sweep give the money back.
    assert start_owed_refunds(utcnow() + timedelta(minutes=10)) == 1
    db.session.rollback()
    refund = db.session.execute(select(Refund).where(Refund.order_id == order_id)).scalar_one()
    assert refund.amount == total and refund.status == "succeeded" and refund.payment_id == payment_id
    assert reload(order_id).refunded_total == total
    assert _payment(payment_id).data["needs_refund"][0]["refund_id"] == refund.id


def test_a_confirmation_keeps_a_failure_recorded_after_it_first_read_the_payment(app, monkeypatch):
    """The reverse order: the confirmation has read the payment (and its empty ``data``),
    then a failure is recorded and committed, then the confirmation claims the payment.
    The marker must be added to the data as it is then, keeping the failure count."""
    order_id, payment_id, total = _late_payment_for_a_closed_order()
    _worker_dies_after_commit(monkeypatch)
    confirm_read, failure_done = threading.Event(), threading.Event()
    _pause_first_utcnow(monkeypatch, "confirm", confirm_read, failure_done)

    def fail():
        assert confirm_read.wait(WAIT), "the confirmation never read the payment"
        return _fail(payment_id)

    results: dict = {}
    _join([start_thread(app, "confirm", lambda: _confirm(total), results),
           start_thread(app, "fail", fail, results, failure_done)])

    assert results == {"fail": PaymentStatus.PENDING, "confirm": PaymentStatus.PAID}, results
    payment = _payment(payment_id)
    assert payment.data.get("failures") == 1 and payment.data["last_failure"]["message"] == "declined"
    assert payment.data["needs_refund"] == [{"order_id": order_id, "amount": total, "refund_id": None}]


def test_a_failure_after_the_payment_was_paid_records_nothing(app, monkeypatch):
    """A declined attempt reported after the payment succeeded leaves it as it is."""
    order_id, payment_id, total = _late_payment_for_a_closed_order()
    _worker_dies_after_commit(monkeypatch)
    assert _confirm(total) == PaymentStatus.PAID
    db.session.rollback()
    before = dict(_payment(payment_id).data)
    assert before["needs_refund"][0]["order_id"] == order_id

    returned = pay.record_failure(db.session.get(Payment, payment_id), "declined")

    assert returned.id == payment_id and returned.status == PaymentStatus.PAID
    db.session.rollback()
    payment = _payment(payment_id)
    assert payment.status == PaymentStatus.PAID and payment.data == before and "failures" not in payment.data

"""Installments: a deposit now, the balance later (core mechanism behind presale deposits).

Orders are placed through the real checkout; the checkout's payment is then
made to charge only a deposit, as a plugin's ``payment_due`` would (the
presale plugin's own tests cover the hook end to end).
"""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from storefront.clock import utcnow
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.orders import services as orders
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.sweeps import close_unpaid
from storefront.orders.transitions import SYSTEM
from storefront.payments import services
from storefront.payments.models import OrderPayment, Payment, PaymentStatus, Refund

from ..checkout.helpers import fresh
from ..factories import make_user
from .test_payments import pay, placed

DEPOSIT = 3000  # of a 10000 item + 1000 shipping = 11000 order


def deposit_order(app, deposit=DEPOSIT):
    """A placed order whose checkout payment charges only ``deposit``."""
    user, reference, order_id = placed(app, price=10000)
    payment_id = db.session.execute(select(Payment.id).where(Payment.reference == reference)).scalar_one()
    db.session.execute(update(OrderPayment).where(OrderPayment.payment_id == payment_id).values(amount=deposit))
    db.session.execute(update(Payment).where(Payment.id == payment_id).values(amount=deposit))
    db.session.commit()
    return user, reference, order_id


def order(order_id) -> Order:
    fresh()
    return db.session.get(Order, order_id)


def events(order_id, kind):
    fresh()
    return db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id,
                                                       OrderEvent.kind == kind)).all()


def pay_balance(app, user, order_id, key=None, amount=None):
    with app.test_request_context():
        row = db.session.get(Order, order_id)
        due = row.total - row.paid_total if amount is None else amount
        payment = services.start_order_payment(row, due, user, key or uuid.uuid4().hex)
        reference = payment.reference
    return pay(app, reference)


def test_checkout_links_each_order_to_its_payment(app):
    _user, reference, order_id = placed(app, price=10000)
    link = db.session.execute(select(OrderPayment).where(OrderPayment.order_id == order_id)).scalar_one()
    assert link.amount == 11000 and link.payment.reference == reference
    pay(app, reference)
    paid = order(order_id)
    assert paid.status == OrderStatus.PAID and paid.paid_total == paid.total == 11000


def test_deposit_keeps_the_order_pending_and_records_part_paid(app):
    _user, reference, order_id = deposit_order(app)
    pay(app, reference)
    row = order(order_id)
    assert row.status == OrderStatus.PENDING_PAYMENT and row.paid_total == DEPOSIT and row.ship_by is None
    [event] = events(order_id, "part_paid")
    assert event.data["amount"] == DEPOSIT and event.data["payment"] == reference
    assert not events(order_id, "status")


def test_balance_payment_completes_the_order(app):
    user, reference, order_id = deposit_order(app)
    pay(app, reference)
    payment = pay_balance(app, user, order_id)
    assert payment.amount == 11000 - DEPOSIT and payment.status == PaymentStatus.PAID
    row = order(order_id)
    assert row.status == OrderStatus.PAID and row.paid_total == 11000 and row.ship_by is not None
    assert [p.id for p in db.session.get(Payment, payment.id).orders] == [order_id]
    assert len(events(order_id, "part_paid")) == 1


def test_start_order_payment_rules(app):
    user, reference, order_id = deposit_order(app)
    pay(app, reference)
    row = order(order_id)
    due = row.total - row.paid_total
    with app.test_request_context():
        with pytest.raises(NotFound):
            services.start_order_payment(row, due, make_user(), uuid.uuid4().hex)
        with pytest.raises(NotFound):
            services.start_order_payment(row, due, None, uuid.uuid4().hex)
        with pytest.raises(ValidationFailed) as too_much:
            services.start_order_payment(row, due + 1, user, uuid.uuid4().hex)
        assert too_much.value.code == "amount_mismatch"
        for bad in (0, -5, "8000", True):
            with pytest.raises(ValidationFailed):
                services.start_order_payment(row, bad, user, uuid.uuid4().hex)
        with pytest.raises(ValidationFailed):
            services.start_order_payment(row, due, user, "bad key!")
        key = uuid.uuid4().hex
        first = services.start_order_payment(row, due, user, key)
        again = services.start_order_payment(row, due, user, key)
        assert first.id == again.id
        with pytest.raises(Conflict):
            services.start_order_payment(row, due - 1, user, key)
    pay(app, first.reference)
    with app.test_request_context():
        with pytest.raises(Conflict) as done:
            services.start_order_payment(order(order_id), 1, user, uuid.uuid4().hex)
    assert done.value.code == "not_pending"


def test_core_sweep_leaves_part_paid_orders_to_their_plugin(app):
    _user, reference, order_id = deposit_order(app)
    pay(app, reference)
    _other_user, _other_ref, unpaid_id = placed(app)
    with app.test_request_context():
        assert close_unpaid(utcnow() + timedelta(days=2)) == 1
    assert order(order_id).status == OrderStatus.PENDING_PAYMENT
    assert order(unpaid_id).status == OrderStatus.CLOSED


def test_closing_a_part_paid_order_returns_the_deposit(app):
    _user, reference, order_id = deposit_order(app)
    pay(app, reference)
    with app.test_request_context():
        orders.close_order(order(order_id), CancelReason.PLUGIN, SYSTEM, "balance unpaid")
    row = order(order_id)
    assert row.status == OrderStatus.CLOSED and row.refunded_total == DEPOSIT
    [refund] = db.session.scalars(select(Refund)).all()
    assert refund.amount == DEPOSIT and refund.status == "succeeded"


def test_keep_paid_closing_keeps_the_deposit_and_refunds_a_late_balance(app):
    user, reference, order_id = deposit_order(app)
    pay(app, reference)
    with app.test_request_context():
        payment = services.start_order_payment(order(order_id), 11000 - DEPOSIT, user, uuid.uuid4().hex)
        balance_reference = payment.reference
        orders.close_order(order(order_id), CancelReason.PLUGIN, SYSTEM, "balance unpaid", keep_paid=True)
    row = order(order_id)
    assert row.status == OrderStatus.CLOSED and row.refunded_total == 0 and row.paid_total == DEPOSIT
    assert not db.session.scalars(select(Refund)).all()
    late = pay(app, balance_reference)  # the balance arrives after the close
    row = order(order_id)
    assert row.status == OrderStatus.CLOSED and row.paid_total == 11000
    assert row.refunded_total == 11000 - DEPOSIT  # the balance goes back, the deposit stays kept
    [refund] = db.session.scalars(select(Refund)).all()
    assert refund.payment_id == late.id and refund.amount == 11000 - DEPOSIT
    assert len(events(order_id, "payment_after_close")) == 1
    assert late.data["needs_refund"][0]["refund_id"] == refund.id


def test_refunds_go_back_newest_payment_first_and_are_capped(app):
    user, reference, order_id = deposit_order(app)
    deposit = pay(app, reference)
    balance = pay_balance(app, user, order_id)
    with app.test_request_context():
        small = services.refund(order(order_id), 1000, "price difference", "refund-small", SYSTEM)
        assert small.payment_id == balance.id and small.amount == 1000
        # 7000 left on the balance payment, 3000 on the deposit: 9000 takes both.
        big = services.refund(order(order_id), 9000, "cancelled", "refund-big", SYSTEM)
        again = services.refund(order(order_id), 9000, "cancelled", "refund-big", SYSTEM)
        assert again.id == big.id
        with pytest.raises(Conflict) as over:
            services.refund(order(order_id), 1001, "too much", "refund-over", SYSTEM)
        assert over.value.code == "refund_exceeds_total"
    fresh()
    rows = {r.idempotency_key: r for r in db.session.scalars(select(Refund)).all()}
    assert set(rows) == {"refund-small", "refund-big", "refund-big#2"}
    assert (rows["refund-big"].payment_id, rows["refund-big"].amount) == (balance.id, 7000)
    assert (rows["refund-big#2"].payment_id, rows["refund-big#2"].amount) == (deposit.id, 2000)
    assert all(r.status == "succeeded" for r in rows.values())
    links = {link.payment_id: link for link in db.session.scalars(select(OrderPayment)).all()}
    assert links[balance.id].refunded == links[balance.id].amount == 8000
    assert links[deposit.id].refunded == 2000
    assert order(order_id).refunded_total == 10000


def test_refund_of_a_part_paid_order_is_capped_at_the_deposit(app):
    _user, reference, order_id = deposit_order(app)
    pay(app, reference)
    with app.test_request_context():
        with pytest.raises(Conflict) as over:
            services.refund(order(order_id), DEPOSIT + 1, "too much", "refund-deposit-over", SYSTEM)
        assert over.value.code == "refund_exceeds_total"
        made = services.refund(order(order_id), DEPOSIT, "goodwill", "refund-deposit", SYSTEM)
    assert made.amount == DEPOSIT and order(order_id).refunded_total == DEPOSIT


def test_concurrent_refunds_never_exceed_paid_total(app):
    user, reference, order_id = deposit_order(app)
    pay(app, reference)
    pay_balance(app, user, order_id)
    results, errors = [], []
    barrier = threading.Barrier(8, timeout=120)

    def refund(i):
        with app.app_context():
            barrier.wait()
            try:
                with app.test_request_context():
                    row = db.session.get(Order, order_id)
                    results.append(services.refund(row, 2500, "split", f"concurrent-{i}", SYSTEM).id)
            except Conflict as exc:
                errors.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=refund, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and errors == ["refund_exceeds_total"] * 4  # 4 x 2500 <= 11000 < 5 x 2500
    fresh()
    assert order(order_id).refunded_total == 10000
    succeeded = db.session.scalars(select(Refund).where(Refund.status == "succeeded")).all()
    assert sum(r.amount for r in succeeded) == 10000
    for link in db.session.scalars(select(OrderPayment)).all():
        assert 0 <= link.refunded <= link.amount


def test_a_failed_balance_part_gives_only_that_part_back(app, monkeypatch):
    user, reference, order_id = deposit_order(app)
    deposit = pay(app, reference)
    balance = pay_balance(app, user, order_id)
    from storefront.payments.providers import TestProvider

    real = TestProvider.refund

    def deposit_fails(self, payment, amount, key):
        if payment.id == deposit.id:
            raise RuntimeError("provider down")
        return real(self, payment, amount, key)

    monkeypatch.setattr(TestProvider, "refund", deposit_fails)
    with app.test_request_context():
        with pytest.raises(services.RefundFailed) as info:
            services.refund(order(order_id), 9000, "cancelled", "refund-half", SYSTEM)
    assert info.value.details["refunded"] == 8000
    fresh()
    rows = {r.idempotency_key: r for r in db.session.scalars(select(Refund)).all()}
    assert rows["refund-half"].status == "succeeded" and rows["refund-half"].payment_id == balance.id
    assert rows["refund-half#2"].status == "failed"
    assert order(order_id).refunded_total == 8000
    links = {link.payment_id: link.refunded for link in db.session.scalars(select(OrderPayment)).all()}
    assert links == {balance.id: 8000, deposit.id: 0}

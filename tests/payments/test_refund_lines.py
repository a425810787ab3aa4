"""Refunds name the order lines they are for: each line's refunded amount stays within what it paid."""
from __future__ import annotations

import threading

import pytest

from storefront.errors import Conflict, ValidationFailed
from storefront.extensions import db
from storefront.orders.models import Order, OrderLine
from storefront.orders.transitions import SYSTEM
from storefront.payments import services
from storefront.payments.models import Refund

from ..checkout.helpers import fresh
from .test_payments import pay, placed


def _lines(order_id):
    fresh()
    return db.session.scalars(db.select(OrderLine).where(OrderLine.order_id == order_id)
                              .order_by(OrderLine.id)).all()


def test_refund_for_a_line_is_capped_at_what_the_line_paid(app):
    _user, reference, order_id = placed(app, price=10000, quantity=2)  # line 20000 + 1000 shipping
    pay(app, reference)
    line = _lines(order_id)[0]
    line_id, paid = line.id, line.paid_amount
    with app.test_request_context():
        order = db.session.get(Order, order_id)
        services.refund(order, 5000, "price difference", "line-1", SYSTEM, lines={line_id: 5000})
        with pytest.raises(Conflict) as info:
            # within the order's total (it has shipping left) but beyond what the line has left
            services.refund(order, paid - 4500, "too much for the line", "line-2", SYSTEM,
                            lines={line_id: paid - 4500})
        assert info.value.code == "refund_exceeds_line"
        # the shipping fee is not part of any line: a refund may carry it beyond the line amounts
        services.refund(order, 1000, "shipping fee", "line-3", SYSTEM, lines={})
    assert _lines(order_id)[0].refunded_amount == 5000
    order = db.session.get(Order, order_id)
    assert order.refunded_total == 6000  # the failed attempt reserved nothing


def test_line_amounts_are_validated(app):
    _user, reference, order_id = placed(app)
    pay(app, reference)
    other_user, other_reference, other_order_id = placed(app)
    other_line_id = _lines(other_order_id)[0].id
    own_line_id = _lines(order_id)[0].id
    with app.test_request_context():
        order = db.session.get(Order, order_id)
        for lines in ({other_line_id: 100}, {own_line_id: -5}, {own_line_id: 101}, {"x": 1}, [own_line_id]):
            with pytest.raises(ValidationFailed):
                services.refund(order, 100, "bad lines", "bad-lines", SYSTEM, lines=lines)
    assert db.session.scalar(db.select(db.func.count()).select_from(Refund)) == 0
    assert all(line.refunded_amount == 0 for line in _lines(order_id))


def test_refund_without_lines_is_spread_over_them(app):
    _user, reference, order_id = placed(app, price=10000)  # total 11000 with shipping
    pay(app, reference)
    with app.test_request_context():
        services.refund(db.session.get(Order, order_id), 11000, "everything", "all-of-it", SYSTEM)
    line = _lines(order_id)[0]
    assert line.refunded_amount == line.paid_amount == 10000
    refund = db.session.execute(db.select(Refund)).scalar_one()
    assert refund.data["lines"] == {str(line.id): 10000}


def test_failed_provider_refund_gives_the_line_back(app, monkeypatch):
    _user, reference, order_id = placed(app)
    pay(app, reference)
    line_id = _lines(order_id)[0].id

    def broken(self, payment, amount, key):
        raise RuntimeError("provider down")

    monkeypatch.setattr("storefront.payments.providers.TestProvider.refund", broken)
    with app.test_request_context():
        with pytest.raises(services.RefundFailed):
            services.refund(db.session.get(Order, order_id), 3000, "x", "broken-1", SYSTEM,
                            lines={line_id: 3000})
    assert _lines(order_id)[0].refunded_amount == 0


def test_concurrent_line_refunds_never_exceed_the_line(app):
    _user, reference, order_id = placed(app, price=10000)
    pay(app, reference)
    line_id = _lines(order_id)[0].id
    results, errors = [], []
    barrier = threading.Barrier(8, timeout=120)

    def refund(i):
        with app.app_context():
            barrier.wait()
            try:
                with app.test_request_context():
                    order = db.session.get(Order, order_id)
                    made = services.refund(order, 3000, "double click", f"line-race-{i}", SYSTEM,
                                           lines={line_id: 3000})
                    results.append(made.amount)
            except Conflict as exc:
                errors.append(exc.code)

    threads = [threading.Thread(target=refund, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(errors) == 5
    assert _lines(order_id)[0].refunded_amount == 9000


def test_a_failed_refund_releasing_while_another_reserves_does_not_deadlock(app, monkeypatch):
    """One refund fails at the provider and gives its reservation back while a second refund
    of the same order reserves. Both take the order row first, then its payment rows: before,
    the release took the payment row first and PostgreSQL aborted one of the two with a
    deadlock, leaving the failed refund's money reserved for good."""
    from storefront.payments.providers import TestProvider

    from ..races import run_each_holding_its_first

    _user, reference, order_id = placed(app, price=10000)  # 11000 with shipping
    pay(app, reference)
    sending = threading.Event()
    real = TestProvider.refund

    def provider(self, payment, amount, key):
        if key == "fails":
            sending.set()
            raise RuntimeError("provider down")
        return real(self, payment, amount, key)

    monkeypatch.setattr("storefront.payments.providers.TestProvider.refund", provider)

    def failing():
        with app.test_request_context():
            with pytest.raises(services.RefundFailed):
                services.refund(db.session.get(Order, order_id), 3000, "x", "fails", SYSTEM)
            return "released"

    def second():
        assert sending.wait(timeout=10)  # the first refund's reservation has committed
        with app.test_request_context():
            return services.refund(db.session.get(Order, order_id), 2000, "y", "works", SYSTEM).status

    results = run_each_holding_its_first(
        app, ["UPDATE order_payments SET refunded = refunded -", "UPDATE orders SET refunded_total"],
        [failing, second])
    assert results == ["released", "succeeded"], results
    fresh()
    assert db.session.get(Order, order_id).refunded_total == 2000
    assert sum(line.refunded_amount for line in _lines(order_id)) <= 2000

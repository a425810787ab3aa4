"""Payments: test provider pages, idempotent confirmation, late payments, refunds (also concurrent)."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from storefront.cart import services as cart_services
from storefront.checkout import services as checkout
from storefront.database import write_transaction
from storefront.errors import Conflict, ValidationFailed
from storefront.extensions import db
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import OrderStatus
from storefront.orders.transitions import SYSTEM, transition
from storefront.payments import services
from storefront.payments.models import Payment, PaymentStatus, Refund
from storefront.payments.providers import TestProvider

from ..checkout.helpers import ADDRESS, api_token, fresh, fresh_client, sign_in
from ..factories import make_product, make_user


def placed(app, price=10000, quantity=1, user=None):
    """A buyer with one placed, unpaid order; returns (user, payment reference, order id)."""
    sku = make_product(price=price, stock=10).skus[0]
    user = user or make_user()
    with app.test_request_context():
        cart = cart_services.get_cart(create=True, user=user)
        cart_services.add_item(cart, sku.id, quantity)
        result = checkout.place_order(user, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    return user, result.payment.reference, result.orders[0].id


def pay(app, reference, amount=None, ref=None):
    with app.test_request_context():
        payment = db.session.execute(db.select(Payment).filter_by(reference=reference)).scalar_one()
        return services.confirm_payment(ref or TestProvider.provider_ref_for(payment),
                                        payment.amount if amount is None else amount,
                                        payment_reference=reference, provider_name="test")


def status_events(order_id):
    fresh()
    return db.session.scalars(db.select(OrderEvent).where(OrderEvent.order_id == order_id,
                                                          OrderEvent.kind == "status")).all()


def test_pay_page_is_for_the_owner_only(app, web):
    user, reference, _order_id = placed(app)
    assert web.get(f"/pay/{reference}").status_code == 302  # anonymous: sign in first
    sign_in(web, make_user())
    assert web.get(f"/pay/{reference}").status_code == 404
    owner = fresh_client(app)
    sign_in(owner, user)
    page = owner.get(f"/pay/{reference}").get_data(as_text=True)
    assert "110.00" in page and "Pay now (test)" in page and "Simulate failure" in page
    intruder = fresh_client(app)
    sign_in(intruder, make_user())
    response = intruder.post("/pay/test/callback", data={"reference": reference, "outcome": "pay",
                                                         "provider_ref": f"test_{reference}", "amount": "10000"})
    assert response.status_code == 404
    fresh()
    assert db.session.execute(db.select(Payment)).scalar_one().status == PaymentStatus.PENDING


def test_pay_now_marks_payment_and_orders_paid(app, web):
    user, reference, order_id = placed(app)
    sign_in(web, user)
    form = {"reference": reference, "provider_ref": f"test_{reference}", "amount": "11000", "outcome": "pay"}
    response = web.post("/pay/test/callback", data=form, follow_redirects=True)
    assert "Payment received" in response.get_data(as_text=True)
    fresh()
    payment = db.session.execute(db.select(Payment)).scalar_one()
    order = db.session.get(Order, order_id)
    assert payment.status == PaymentStatus.PAID and payment.provider_ref == f"test_{reference}"
    assert order.status == OrderStatus.PAID and order.paid_at is not None
    assert abs((order.ship_by - order.paid_at) - timedelta(hours=48)) < timedelta(seconds=2)
    assert order.auto_confirm_at is None
    # Clicking again (or a replayed callback) changes nothing.
    web.post("/pay/test/callback", data=form)
    assert len(status_events(order_id)) == 1


def test_simulated_failure_keeps_payment_pending(app, web):
    user, reference, order_id = placed(app)
    sign_in(web, user)
    response = web.post("/pay/test/callback", data={"reference": reference, "provider_ref": f"test_{reference}",
                                                    "amount": "11000", "outcome": "fail"}, follow_redirects=True)
    assert "payment failed" in response.get_data(as_text=True)
    fresh()
    payment = db.session.execute(db.select(Payment)).scalar_one()
    assert payment.status == PaymentStatus.PENDING and payment.data["failures"] == 1
    assert db.session.get(Order, order_id).status == OrderStatus.PENDING_PAYMENT


def test_amount_mismatch_is_refused(app, web):
    user, reference, order_id = placed(app)
    with pytest.raises(ValidationFailed) as info:
        pay(app, reference, amount=1)
    assert info.value.code == "amount_mismatch"
    sign_in(web, user)
    web.post("/pay/test/callback", data={"reference": reference, "provider_ref": f"test_{reference}",
                                         "amount": "1", "outcome": "pay"})
    fresh()
    assert db.session.get(Order, order_id).status == OrderStatus.PENDING_PAYMENT
    assert db.session.execute(db.select(Payment)).scalar_one().status == PaymentStatus.PENDING


def test_callback_is_idempotent(app):
    _user, reference, order_id = placed(app)
    first = pay(app, reference)
    second = pay(app, reference)
    assert first.id == second.id and second.status == PaymentStatus.PAID
    assert len(status_events(order_id)) == 1
    with pytest.raises(Conflict):  # a different provider reference for a paid payment
        pay(app, reference, ref="other-ref")


def test_concurrent_callbacks_pay_once(app):
    _user, reference, order_id = placed(app)
    errors, barrier = [], threading.Barrier(6)

    def callback():
        with app.app_context():
            barrier.wait(timeout=120)
            try:
                pay(app, reference)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=callback) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = status_events(order_id)
    assert [(e.from_status, e.to_status) for e in events] == [("pending_payment", "paid")]


def test_callback_for_a_closed_order_refunds_instead_of_reopening(app):
    _user, reference, order_id = placed(app)
    with app.test_request_context():
        with write_transaction():
            transition(db.session.get(Order, order_id), OrderStatus.CLOSED, actor=SYSTEM,
                       reason="payment timeout", values={"close_reason": "payment_timeout"})
    payment = pay(app, reference)
    fresh()
    order = db.session.get(Order, order_id)
    assert order.status == OrderStatus.CLOSED
    payment = db.session.get(Payment, payment.id)
    assert payment.data["needs_refund"][0]["order_id"] == order_id
    refund = db.session.execute(db.select(Refund)).scalar_one()
    assert refund.amount == order.total == order.refunded_total and refund.status == "succeeded"
    assert payment.data["needs_refund"][0]["refund_id"] == refund.id
    kinds = [e.kind for e in order.events]
    assert "payment_after_close" in kinds and "refund" in kinds
    pay(app, reference)  # a replay neither reopens nor refunds twice
    fresh()
    assert db.session.scalar(db.select(db.func.count()).select_from(Refund)) == 1


def test_refund_is_idempotent_and_capped(app):
    _user, reference, order_id = placed(app)
    pay(app, reference)
    with app.test_request_context():
        order = db.session.get(Order, order_id)
        with pytest.raises(Conflict):  # not more than the total
            services.refund(order, order.total + 1, "too much", "refund-key-0", SYSTEM)
        first = services.refund(order, 3000, "price difference", "refund-key-1", SYSTEM)
        again = services.refund(order, 3000, "price difference", "refund-key-1", SYSTEM)
        assert first.id == again.id and first.provider_ref == "test_refund_refund-key-1"
        with pytest.raises(Conflict):
            services.refund(order, 500, "same key, other amount", "refund-key-1", SYSTEM)
        with pytest.raises(ValidationFailed):
            services.refund(order, 0, "zero", "refund-key-2", SYSTEM)
    fresh()
    assert db.session.get(Order, order_id).refunded_total == 3000


def test_unpaid_order_cannot_be_refunded(app):
    _user, _reference, order_id = placed(app)
    with app.test_request_context():
        with pytest.raises(Conflict) as info:
            services.refund(db.session.get(Order, order_id), 100, "nope", "refund-unpaid", SYSTEM)
    assert info.value.code == "not_paid"


def test_concurrent_refunds_never_exceed_total(app):
    _user, reference, order_id = placed(app, price=10000)  # total 11000 with shipping
    pay(app, reference)
    results, errors = [], []
    barrier = threading.Barrier(10)

    def refund(i):
        with app.app_context():
            barrier.wait(timeout=120)
            try:
                with app.test_request_context():
                    order = db.session.get(Order, order_id)
                    results.append(services.refund(order, 2750, "split", f"concurrent-{i}", SYSTEM).amount)
            except Conflict as exc:
                errors.append(exc.code)

    threads = [threading.Thread(target=refund, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and errors == ["refund_exceeds_total"] * 6
    fresh()
    assert db.session.get(Order, order_id).refunded_total == 11000
    assert db.session.scalar(db.select(db.func.sum(Refund.amount)).where(Refund.status == "succeeded")) == 11000


def test_failed_provider_refund_releases_the_reservation(app, monkeypatch):
    _user, reference, order_id = placed(app)
    pay(app, reference)

    def broken(self, payment, amount, key):
        raise RuntimeError("provider down")

    monkeypatch.setattr(TestProvider, "refund", broken)
    with app.test_request_context():
        with pytest.raises(services.RefundFailed):
            services.refund(db.session.get(Order, order_id), 1000, "x", "refund-broken", SYSTEM)
    fresh()
    assert db.session.get(Order, order_id).refunded_total == 0
    assert db.session.execute(db.select(Refund)).scalar_one().status == "failed"


def test_api_pay_test_for_own_payment_only(app):
    user, reference, order_id = placed(app)
    client = fresh_client(app)
    other = api_token(make_user())
    response = client.post(f"/api/v1/payments/{reference}/pay-test", headers=other)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert client.post(f"/api/v1/payments/{reference}/pay-test").status_code == 401
    mine = api_token(user)
    response = client.post(f"/api/v1/payments/{reference}/pay-test", headers=mine)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "paid" and body["orders"][0]["status"] == "paid"
    again = client.post(f"/api/v1/payments/{reference}/pay-test", headers=mine)
    assert again.status_code == 200
    assert len(status_events(order_id)) == 1
    assert client.get(f"/api/v1/payments/{reference}", headers=other).status_code == 404

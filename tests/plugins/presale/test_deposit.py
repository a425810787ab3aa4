"""Deposit + balance: the deposit charge, the order page, the balance payment, reminders, the window's end."""
from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

import pytest

from plugins.presale import services, sweeps
from plugins.presale.models import BuyerCount, PresaleOrder, Quota, Reservation
from storefront.clock import utcnow
from storefront.errors import Conflict, NotFound
from storefront.extensions import db
from storefront.notify.models import InboxMessage
from storefront.orders import services as order_services
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import OrderStatus
from storefront.payments.models import Payment, Refund
from storefront.plugins.host import get_host
from tests.conftest import csrf_token_from
from tests.factories import make_staff, make_user, sign_in

from .conftest import api_token, checkout, deposit_campaign, fresh, new_client, pay, set_enabled

TOTAL = 10000  # 10000 item - 1000 deposit bonus + 1000 shipping
DEPOSIT = 2000


def deposit_order(buyer=None, **campaign):
    _c, product = deposit_campaign(**campaign)
    buyer = buyer or make_user()
    result = checkout(buyer, (product.skus[0].id, 1))
    pay(result.payment.reference)
    return buyer, db.session.get(Order, result.orders[0].id), product


def open_window(order, *, closes_in=timedelta(days=1)):
    now = utcnow()
    db.session.execute(db.update(PresaleOrder).where(PresaleOrder.order_id == order.id)
                       .values(balance_opens_at=now - timedelta(minutes=1), balance_closes_at=now + closes_in))
    db.session.commit()


def events(order, kind):
    fresh()
    return db.session.execute(db.select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                          OrderEvent.kind == kind)).scalars().all()


def test_checkout_charges_only_the_deposit(app, enabled):
    _c, product = deposit_campaign()
    result = checkout(make_user(), (product.skus[0].id, 1))
    order = result.orders[0]
    assert order.total == TOTAL and result.payment.amount == DEPOSIT
    assert any(a.source == "presale" and a.amount == -1000 for a in order.adjustments)
    from tests.perf.conftest import count_queries

    with count_queries() as seen:
        pay(result.payment.reference)
    # Deposits are paid in a rush: moving the deadline reads nothing again under the write lock.
    assert not seen.inside_writes().matching(r"FROM presale_orders\b"), seen.inside_writes()
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.PENDING_PAYMENT and order.paid_total == DEPOSIT
    record = services.presale_order(order.id)
    assert order.pay_deadline == record.balance_closes_at  # the buyer sees the balance deadline
    assert [e.data["amount"] for e in events(order, "part_paid")] == [DEPOSIT]


def test_order_page_shows_balance_and_pays_it_in_the_window(app, enabled):
    buyer, order, _p = deposit_order()
    web = new_client(app)
    sign_in(web, buyer)
    page = web.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Deposit paid, balance" in page and "80.00" in page and "Presale" in page
    assert "counts as" in page and "deposit is kept" in page
    assert "Pay the balance" not in page  # window not open yet
    response = web.post(f"/p/presale/orders/{order.number}/balance", data={"idempotency_key": uuid.uuid4().hex})
    assert response.status_code == 303
    assert db.session.execute(db.select(db.func.count(Payment.id))).scalar() == 1
    open_window(order)
    page = web.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Pay the balance" in page
    key = uuid.uuid4().hex
    response = web.post(f"/p/presale/orders/{order.number}/balance", data={"idempotency_key": key})
    assert response.status_code == 303 and "/pay/" in response.headers["Location"]
    reference = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    again = web.post(f"/p/presale/orders/{order.number}/balance", data={"idempotency_key": key})
    assert again.headers["Location"] == response.headers["Location"]  # same key, same payment
    balance = pay(reference)
    assert balance.amount == TOTAL - DEPOSIT
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.PAID and order.paid_total == TOTAL
    assert order.ship_by is not None and order.ship_by > utcnow() + timedelta(days=20)


def test_balance_route_permissions_and_csrf(app, enabled, secure_client):
    buyer, order, _p = deposit_order()
    open_window(order)
    anonymous = new_client(app).post(f"/p/presale/orders/{order.number}/balance",
                                     data={"idempotency_key": uuid.uuid4().hex})
    assert anonymous.status_code in (302, 401)
    other = new_client(app)
    sign_in(other, make_user())
    assert other.post(f"/p/presale/orders/{order.number}/balance",
                      data={"idempotency_key": uuid.uuid4().hex}).status_code == 404
    sign_in(secure_client, buyer)
    assert secure_client.post(f"/p/presale/orders/{order.number}/balance",
                              data={"idempotency_key": uuid.uuid4().hex}).status_code in (302, 303, 400)
    assert db.session.execute(db.select(db.func.count(Payment.id))).scalar() == 1  # no balance payment started
    page = secure_client.get(f"/orders/{order.number}").get_data(as_text=True)
    form = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    ok = secure_client.post(f"/p/presale/orders/{order.number}/balance",
                            data={"csrf_token": csrf_token_from(page), "idempotency_key": form})
    assert ok.status_code == 303 and "/pay/" in ok.headers["Location"]


def test_balance_service_rules(app, enabled):
    _c, product = deposit_campaign()
    buyer = make_user()
    result = checkout(buyer, (product.skus[0].id, 1))
    order = db.session.get(Order, result.orders[0].id)
    open_window(order)
    with pytest.raises(Conflict) as unpaid:
        services.start_balance(order, buyer, uuid.uuid4().hex)
    assert unpaid.value.code == "deposit_unpaid"
    pay(result.payment.reference)
    order = db.session.get(Order, order.id)
    with pytest.raises(NotFound):
        services.start_balance(order, make_user(), uuid.uuid4().hex)
    db.session.execute(db.update(PresaleOrder).values(balance_closes_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    with pytest.raises(Conflict) as closed:
        services.start_balance(db.session.get(Order, order.id), buyer, uuid.uuid4().hex)
    assert closed.value.code == "balance_closed"


def test_reminders_once_each(app, enabled):
    _buyer, order, _p = deposit_order(closes=utcnow() + timedelta(days=5))
    record = services.presale_order(order.id)
    opens, closes = record.balance_opens_at, record.balance_closes_at
    assert sweeps.run(opens - timedelta(minutes=1))["presale_balance_open_reminders"] == 0
    assert sweeps.run(opens + timedelta(minutes=1))["presale_balance_open_reminders"] == 1
    assert sweeps.run(opens + timedelta(minutes=2))["presale_balance_open_reminders"] == 0
    assert sweeps.run(closes - timedelta(hours=25))["presale_balance_close_reminders"] == 0
    assert sweeps.run(closes - timedelta(hours=23))["presale_balance_close_reminders"] == 1
    assert sweeps.run(closes - timedelta(hours=22))["presale_balance_close_reminders"] == 0
    fresh()
    kinds = sorted(m.kind for m in db.session.execute(db.select(InboxMessage)).scalars())
    assert kinds.count("presale_balance_open") == 1 and kinds.count("presale_balance_reminder") == 1
    body = db.session.execute(db.select(InboxMessage).where(InboxMessage.kind == "presale_balance_open")
                              ).scalar_one().body
    assert "80.00" in body and "Ships by" in body
    assert len(events(order, "presale_balance_open")) == 1


def test_unpaid_balance_closes_keeps_deposit_and_releases_quota_once(app, enabled):
    buyer, order, product = deposit_order()
    record = services.presale_order(order.id)
    counts = sweeps.run(record.balance_closes_at + timedelta(minutes=1))
    assert counts["presale_balances_closed"] == 1
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.CLOSED and order.refunded_total == 0
    assert not db.session.execute(db.select(Refund)).scalars().all()
    [event] = events(order, "presale_balance_unpaid")
    assert event.data["deposit_kept"] is True
    web = new_client(app)
    sign_in(web, buyer)
    page = web.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "deposit of" in page and "kept" in page
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0
    assert db.session.execute(db.select(BuyerCount.bought)).scalar() in (None, 0)
    assert db.session.execute(db.select(Reservation.released_at)).scalar() is not None
    again = sweeps.run(record.balance_closes_at + timedelta(minutes=5))
    assert again["presale_balances_closed"] == 0 and again["presale_quota_released"] == 0
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0


def test_unpaid_balance_returns_deposit_when_the_presale_says_so(app, enabled):
    _buyer, order, _p = deposit_order(return_deposit=True)
    record = services.presale_order(order.id)
    sweeps.run(record.balance_closes_at + timedelta(minutes=1))
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.CLOSED and order.refunded_total == DEPOSIT
    [event] = events(order, "presale_balance_unpaid")
    assert event.data["deposit_kept"] is False


def test_seller_cancellation_always_returns_the_deposit(app, enabled):
    _buyer, order, _p = deposit_order()
    order_services.cancel_by_seller(order, make_staff(), "out_of_stock")
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.CLOSED and order.refunded_total == DEPOSIT
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0


def test_unpaid_deposit_closes_by_the_core_and_gives_quota_back(app, enabled):
    _c, product = deposit_campaign()
    result = checkout(make_user(), (product.skus[0].id, 1))
    assert db.session.execute(db.select(Quota.sold)).scalar() == 1
    from storefront.orders.sweeps import run_all_sweeps

    run_all_sweeps(utcnow() + timedelta(hours=3))
    fresh()
    assert db.session.get(Order, result.orders[0].id).status == OrderStatus.CLOSED
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0


def test_concurrent_sweeps_close_and_release_exactly_once(app, enabled):
    orders = [deposit_order()[1] for _ in range(3)]
    closes = services.presale_order(orders[0].id).balance_closes_at
    later = closes + timedelta(minutes=1)
    results = []
    barrier = threading.Barrier(4, timeout=120)

    def run():
        with app.app_context():
            barrier.wait()
            try:
                results.append(sweeps.run(later))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["presale_balances_closed"] for r in results) == 3
    fresh()
    for order in orders:
        assert len(events(order, "presale_balance_unpaid")) == 1
    # Each order took 1 of its own campaign's quota; every one came back exactly once.
    assert [q.sold for q in db.session.execute(db.select(Quota)).scalars()] == [0, 0, 0]
    released = db.session.execute(db.select(Reservation.released_at)).scalars().all()
    assert len(released) == 3 and all(released)


def test_release_sweep_catches_orders_closed_while_disabled(app, enabled):
    _buyer, order, _p = deposit_order()
    set_enabled(False)
    get_host().forget_states()
    order_services.cancel_by_seller(db.session.get(Order, order.id), make_staff(), "out_of_stock")
    fresh()
    # The always-on hooks still gave the quota back at close time.
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0
    db.session.execute(db.update(Quota).values(sold=1))
    db.session.execute(db.update(Reservation).values(released_at=None))  # as if the release had crashed
    db.session.commit()
    assert sweeps.run(utcnow())["presale_quota_released"] == 1
    fresh()
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0


def test_disabled_plugin_keeps_existing_orders_promise_and_balance(app):
    set_enabled(True)
    buyer, order, _p = deposit_order()
    set_enabled(False)
    get_host().forget_states()
    open_window(order)
    web = new_client(app)
    sign_in(web, buyer)
    page = web.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Pay the balance" in page
    response = web.post(f"/p/presale/orders/{order.number}/balance", data={"idempotency_key": uuid.uuid4().hex})
    assert response.status_code == 303 and "/pay/" in response.headers["Location"]
    pay(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.PAID
    record = services.presale_order(order.id)
    from plugins.presale.times import end_of_local_day

    assert order.ship_by == end_of_local_day(record.ship_by_date)  # the presale promise, not the core default


def test_api_order_terms_and_balance(app, enabled):
    buyer, order, _p = deposit_order()
    web = new_client(app)
    headers = api_token(buyer)
    terms = web.get(f"/api/v1/presale/orders/{order.number}", headers=headers).get_json()
    assert terms["mode"] == "deposit" and terms["balance_due"]["amount"] == TOTAL - DEPOSIT
    assert terms["balance_state"] == "waiting" and terms["ship_promise"].startswith("Ships by")
    early = web.post(f"/api/v1/presale/orders/{order.number}/balance", headers=headers,
                     json={"idempotency_key": uuid.uuid4().hex})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "balance_not_open"
    open_window(order)
    made = web.post(f"/api/v1/presale/orders/{order.number}/balance", headers=headers,
                    json={"idempotency_key": uuid.uuid4().hex})
    assert made.status_code == 201 and made.get_json()["amount"]["amount"] == TOTAL - DEPOSIT
    other = api_token(make_user())
    assert web.get(f"/api/v1/presale/orders/{order.number}", headers=other).status_code == 404
    assert web.post(f"/api/v1/presale/orders/{order.number}/balance", headers=other,
                    json={"idempotency_key": uuid.uuid4().hex}).status_code == 404
    assert web.get(f"/api/v1/presale/orders/{order.number}").status_code == 401
    bad = web.post(f"/api/v1/presale/orders/{order.number}/balance", headers=headers, json={})
    assert bad.status_code == 422


def test_balance_window_sweep_runs_while_the_plugin_is_disabled(app):
    set_enabled(True)
    _buyer, order, _p = deposit_order()
    closes = services.presale_order(order.id).balance_closes_at
    set_enabled(False)
    get_host().forget_states()
    from storefront.orders.sweeps import run_all_sweeps

    counts = run_all_sweeps(closes + timedelta(minutes=1))
    assert counts["presale_balances_closed"] == 1
    fresh()
    assert db.session.get(Order, order.id).status == OrderStatus.CLOSED
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0

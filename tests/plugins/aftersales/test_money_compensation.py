"""Compensation for late shipment and out-of-stock cancellations (DOMAIN.md §3)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from plugins.aftersales import compensation, credit
from plugins.aftersales.compensation import LATE, OUT_OF_STOCK, late_amount, oos_amount
from plugins.aftersales.money_models import Compensation, CreditEntry
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.notify.models import InboxMessage
from storefront.orders import services as order_services
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import OrderStatus
from storefront.orders.sweeps import flag_late_shipments
from storefront.payments.models import Refund
from tests.orders.factories import make_order
from tests.plugins.aftersales.conftest import client_for, set_enabled
from tests.races import run_threads

DEFAULTS = {"late_percent_bp": 500, "late_min": 100, "late_max": 3000, "oos_percent_bp": 3000, "oos_cap": 3000}


@pytest.mark.parametrize("paid,expected", [(6000, 300), (1000, 100), (0, 100), (60000, 3000),
                                           (59990, 3000), (2010, 101)])
def test_late_amount_is_five_percent_between_one_and_thirty_yuan(paid, expected):
    assert late_amount(paid, DEFAULTS) == expected


@pytest.mark.parametrize("price,expected", [(5000, 1500), (9999, 3000), (333, 100), (0, 0)])
def test_out_of_stock_amount_is_thirty_percent_capped(price, expected):
    assert oos_amount(price, DEFAULTS) == expected


def test_figures_are_settings():
    premium = {**DEFAULTS, "oos_cap": 50000, "late_percent_bp": 1000, "late_max": 100000}
    assert oos_amount(200000, premium) == 50000
    assert late_amount(6000, premium) == 600


def late_order(user, **kwargs):
    return make_order(user, OrderStatus.PAID, ship_by=utcnow() - timedelta(hours=1), **kwargs)


def comps(order_id):
    db.session.rollback()
    return list(db.session.execute(select(Compensation).where(Compensation.order_id == order_id)).scalars())


def test_late_shipment_is_paid_once_as_store_credit(app, enabled, buyer):
    order = late_order(buyer)  # ¥50 + ¥10 shipping
    assert flag_late_shipments(utcnow()) == 1
    rows = comps(order.id)
    assert [(r.kind, r.basis, r.amount, r.method, r.status) for r in rows] == [(LATE, 6000, 300, "credit", "paid")]
    assert credit.balance(buyer.id) == 300
    flag_late_shipments(utcnow())
    assert compensation.compensate(order.id, LATE) is None
    assert credit.balance(buyer.id) == 300
    events = db.session.execute(select(OrderEvent).where(
        OrderEvent.order_id == order.id, OrderEvent.kind == "aftersales_compensation")).scalars().all()
    assert len(events) == 1 and events[0].public and events[0].data["amount"] == 300
    inbox = db.session.execute(select(InboxMessage).where(
        InboxMessage.user_id == buyer.id, InboxMessage.kind == "aftersales_compensation")).scalars().all()
    assert len(inbox) == 1 and "3.00" in inbox[0].subject


def test_late_compensation_shows_on_buyer_and_staff_order_pages(app, enabled, buyer, staff):
    order = late_order(buyer)
    flag_late_shipments(utcnow())
    html = client_for(app, buyer).get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Compensation and store credit" in html and "3.00" in html
    assert "Compensation for late shipment paid as store credit" in html
    staff_html = client_for(app, staff).get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert "Compensation and store credit" in staff_html and f"/admin/aftersales/money/credit/{buyer.id}" in staff_html


def test_order_without_compensation_shows_no_panel(app, enabled, buyer):
    order = make_order(buyer, OrderStatus.PAID)
    html = client_for(app, buyer).get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Compensation and store credit" not in html


def test_concurrent_compensation_pays_once(app, enabled, buyer):
    order = late_order(buyer)
    db.session.execute(update(Order).where(Order.id == order.id).values(ship_overdue_at=utcnow()))
    db.session.commit()
    order_id = order.id
    results = run_threads(app, 6, lambda i: compensation.compensate(order_id, LATE))
    assert sum(isinstance(r, Compensation) for r in results) == 1, results
    assert all(r is None or isinstance(r, Compensation) for r in results), results
    assert credit.balance(buyer.id) == 300
    assert db.session.execute(select(func.count(CreditEntry.id)).where(CreditEntry.kind == "compensation")).scalar() == 1


def test_late_basis_includes_store_credit_spent(app, enabled, buyer):
    from tests.plugins.aftersales.test_money_credit import checkout, give
    from tests.factories import make_product

    give(buyer, 2000)
    order = checkout(buyer, make_product(price=5000, stock=3)).orders[0]  # pays 40 money + 20 credit
    from storefront.payments.providers import TestProvider
    from storefront.payments.services import confirm_payment

    payment = order.payment
    confirm_payment(TestProvider.provider_ref_for(payment), payment.amount, payment_reference=payment.reference,
                    provider_name=TestProvider.name)
    db.session.execute(update(Order).where(Order.id == order.id).values(ship_by=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    flag_late_shipments(utcnow())
    [row] = comps(order.id)
    assert row.basis == 6000 and row.amount == 300


def test_out_of_stock_cancellation_is_compensated_in_credit(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.PAID)
    order_services.cancel_by_seller(order, staff, "out_of_stock")
    [row] = comps(order.id)
    assert (row.kind, row.basis, row.amount, row.method) == (OUT_OF_STOCK, 5000, 1500, "credit")
    assert credit.balance(buyer.id) == 1500


def test_refund_method_does_not_apply_to_out_of_stock(app, enabled, buyer, staff):
    set_enabled(True, compensation_method="refund")
    order = make_order(buyer, OrderStatus.PAID)
    order_services.cancel_by_seller(order, staff, "out_of_stock")
    [row] = comps(order.id)
    assert row.method == "credit" and credit.balance(buyer.id) == 1500


@pytest.mark.parametrize("reason", ["listing_error", "shipping_error"])
def test_other_seller_reasons_owe_nothing(app, enabled, buyer, staff, reason):
    order = make_order(buyer, OrderStatus.PAID)
    order_services.cancel_by_seller(order, staff, reason)
    assert comps(order.id) == []


def test_unpaid_out_of_stock_order_owes_nothing(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.PENDING_PAYMENT)
    order_services.cancel_by_seller(order, staff, "out_of_stock")
    assert comps(order.id) == []


def test_refund_method_refunds_through_the_provider(app, enabled, buyer):
    set_enabled(True, compensation_method="refund")
    order = late_order(buyer)
    flag_late_shipments(utcnow())
    [row] = comps(order.id)
    assert (row.method, row.status, row.amount) == ("refund", "paid", 300)
    refunds = db.session.execute(select(Refund).where(Refund.order_id == order.id)).scalars().all()
    assert [r.amount for r in refunds] == [300]
    assert credit.balance(buyer.id) == 0
    assert compensation.compensate(order.id, LATE) is None


def test_refund_failure_falls_back_to_store_credit(app, enabled, buyer, monkeypatch):
    from storefront.errors import Conflict
    from storefront.payments import services as payments

    def refuse(*args, **kwargs):
        raise Conflict("no", code="refund_exceeds_total")

    monkeypatch.setattr(payments, "refund", refuse)
    set_enabled(True, compensation_method="refund")
    order = late_order(buyer)
    flag_late_shipments(utcnow())
    [row] = comps(order.id)
    assert (row.method, row.status) == ("credit", "paid") and "refund_exceeds_total" in row.note
    assert credit.balance(buyer.id) == 300


def test_switched_off_compensation_pays_nothing(app, enabled, buyer, staff):
    set_enabled(True, late_compensation=False, oos_compensation=False)
    late = late_order(buyer)
    flag_late_shipments(utcnow())
    oos = make_order(buyer, OrderStatus.PAID)
    order_services.cancel_by_seller(oos, staff, "out_of_stock")
    assert comps(late.id) == [] and comps(oos.id) == []


def test_sweep_catches_up_events_missed_while_disabled(app, buyer, staff):
    set_enabled(False)
    late = late_order(buyer)
    flag_late_shipments(utcnow())
    oos = make_order(buyer, OrderStatus.PAID)
    order_services.cancel_by_seller(oos, staff, "out_of_stock")
    assert comps(late.id) == [] and comps(oos.id) == []
    set_enabled(True, compensation_catch_up_hours=0)
    assert compensation.sweep(utcnow())["aftersales_compensations_caught_up"] == 0
    set_enabled(True, compensation_catch_up_hours=24)
    assert compensation.sweep(utcnow() + timedelta(hours=25))["aftersales_compensations_caught_up"] == 0
    assert compensation.sweep(utcnow())["aftersales_compensations_caught_up"] == 2
    assert compensation.sweep(utcnow())["aftersales_compensations_caught_up"] == 0
    assert credit.balance(buyer.id) == 300 + 1500


def test_sweep_finishes_a_claim_left_pending(app, enabled, buyer):
    set_enabled(True, compensation_method="refund")
    order = late_order(buyer)
    db.session.add(Compensation(order_id=order.id, user_id=buyer.id, kind=LATE, basis=6000, amount=300,
                                currency="CNY", method="refund", status="pending",
                                created_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    compensation.sweep(utcnow())
    [row] = comps(order.id)
    assert row.status == "paid"
    assert db.session.execute(select(func.sum(Refund.amount)).where(Refund.order_id == order.id)).scalar() == 300


def test_staff_compensation_list(app, enabled, buyer, staff):
    late_order(buyer)
    flag_late_shipments(utcnow())
    html = client_for(app, staff).get("/admin/aftersales/money/credit").get_data(as_text=True)
    assert "Late shipment" in html and "3.00" in html


def _settings_post(overrides: dict) -> dict:
    """The owner's settings form as posted, from the stored defaults plus ``overrides``."""
    from plugins.aftersales.forms import DEFAULT_SETTINGS, AftersalesSettingsForm

    form = AftersalesSettingsForm(formdata=None, data=DEFAULT_SETTINGS, meta={"csrf": False})
    data = {}
    for f in form:
        value = overrides.get(f.name, f.data)
        if f.type == "BooleanField":
            if value:
                data[f"aftersales-{f.name}"] = "y"
        elif value is not None:
            data[f"aftersales-{f.name}"] = str(value)
    return data


def test_owner_sets_compensation_figures(app, enabled, owner, buyer):
    from storefront.plugins.host import get_host

    c = client_for(app, owner)
    bad = c.post("/admin/plugins/aftersales/settings", data=_settings_post({"late_min": 500, "late_max": 100}))
    assert bad.status_code == 422
    ok = c.post("/admin/plugins/aftersales/settings",
                data=_settings_post({"late_percent_bp": 1000, "late_max": 5000, "compensation_method": "refund"}))
    assert ok.status_code == 302
    get_host().forget_states()
    settings = get_host().settings("aftersales")
    assert (settings["late_percent_bp"], settings["late_max"], settings["compensation_method"]) == (1000, 5000, "refund")
    order = late_order(buyer)
    flag_late_shipments(utcnow())
    [row] = comps(order.id)
    assert (row.amount, row.method) == (600, "refund")


def _claim_left_pending_with_refund(order, buyer, refund_status: str) -> None:
    """A refund compensation claimed by a worker that died after its refund got ``refund_status``."""
    from storefront.payments.models import OrderPayment

    payment_id = db.session.execute(select(OrderPayment.payment_id)
                                    .where(OrderPayment.order_id == order.id)).scalar_one()
    db.session.add(Compensation(order_id=order.id, user_id=buyer.id, kind=LATE, basis=6000, amount=300,
                                currency="CNY", method="refund", status="pending",
                                created_at=utcnow() - timedelta(hours=1)))
    db.session.add(Refund(payment_id=payment_id, order_id=order.id,
                          idempotency_key=f"aftersales-comp-{LATE}-{order.id}", amount=300, currency="CNY", reason="Compensation", status=refund_status,
                          data={"total": 300}))
    if refund_status == "pending":  # its reservation holds until the provider answers
        db.session.execute(update(Order).where(Order.id == order.id).values(refunded_total=300))
    db.session.commit()


def test_retry_of_a_refused_compensation_refund_pays_credit(app, enabled, buyer):
    """The earlier attempt's refund was refused: the retry finds that row by its key and must
    not take it for a refund paid -- the buyer gets store credit instead."""
    set_enabled(True, compensation_method="refund")
    order = late_order(buyer)
    _claim_left_pending_with_refund(order, buyer, "failed")
    compensation.sweep(utcnow())
    [row] = comps(order.id)
    assert (row.method, row.status) == ("credit", "paid") and "refund_failed" in row.note
    assert credit.balance(buyer.id) == 300


def test_retry_while_the_compensation_refund_is_in_flight_waits(app, enabled, buyer):
    """The earlier attempt's refund is still pending (in flight, or its worker died mid-way):
    neither refund-paid nor credit yet -- the claim stays pending until that refund settles."""
    set_enabled(True, compensation_method="refund")
    order = late_order(buyer)
    _claim_left_pending_with_refund(order, buyer, "pending")
    compensation.sweep(utcnow())
    [row] = comps(order.id)
    assert row.status == "pending" and credit.balance(buyer.id) == 0
    db.session.execute(update(Refund).where(Refund.order_id == order.id).values(status="succeeded"))
    db.session.commit()
    compensation.sweep(utcnow())
    [row] = comps(order.id)
    assert (row.method, row.status) == ("refund", "paid") and credit.balance(buyer.id) == 0

"""``bench-data`` writes valid after-sales cases when the plugin's tables exist."""
from __future__ import annotations

from sqlalchemy import String, cast, func, select

from plugins.aftersales.models import OPEN_STATUSES, Case, CaseEvent, CaseLine, CaseMessage
from storefront.accounts.models import User
from storefront.benchdata import GeneratorConfig, generate, generate_aftersales
from storefront.extensions import db
from storefront.orders.models import Order, OrderEvent, OrderLine
from storefront.payments.models import Refund

from .conftest import client_for, set_enabled


def _generate(orders: int = 4000, seed: int = 4) -> None:
    db.session.commit()
    generate(GeneratorConfig(orders=orders, buyers=200, products=12, days=15, seed=seed), db.engine, db.metadata,
             log=lambda _line: None)
    db.session.expire_all()


def test_cases_are_a_realistic_valid_mix(app):
    _generate()
    cases = list(db.session.execute(select(Case)).scalars())
    paid = db.session.scalar(select(func.count()).select_from(Order).where(Order.paid_at.is_not(None)))
    assert 0.02 * paid <= len(cases) <= 0.06 * paid
    statuses = {c.status for c in cases}
    assert {"requested", "refunded", "rejected", "cancelled", "closed"} <= statuses
    assert statuses & {"awaiting_return", "returning", "arrived", "inspected"}
    assert {c.kind for c in cases} >= {"refund_shipped", "return_refund", "refund_unshipped"}
    assert len({c.number for c in cases}) == len(cases)
    for case in cases:
        order = db.session.get(Order, case.order_id)
        assert case.user_id == order.user_id and case.currency == order.currency
        assert case.created_at >= order.paid_at
        lines = db.session.execute(select(CaseLine).where(CaseLine.case_id == case.id)).scalars().all()
        assert lines and all(db.session.get(OrderLine, cl.order_line_id).order_id == order.id for cl in lines)
        events = db.session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                    .order_by(CaseEvent.id)).scalars().all()
        assert events[0].kind == "requested" and events[-1].to_status in (case.status, None)
        if case.status in OPEN_STATUSES:
            # Only orders still paid or on the road hold an open request (the transition guard).
            assert order.status in ("paid", "shipped") and case.completed_at is None and case.closed_at is None
        if case.status == "refunded":
            # The money moved once: the order's refund row carries the case's key and amount.
            refund = db.session.execute(select(Refund).where(Refund.idempotency_key == f"aftersales-{case.id}")
                                        ).scalar_one()
            assert refund.order_id == order.id and refund.amount == case.amount_refunded == case.amount_requested
            assert case.refunded_at and case.completed_at and case.refund_method == "original"
        else:
            assert case.amount_refunded == 0
        if case.escalated:
            assert case.attempt == 2 and db.session.scalar(select(func.count()).select_from(Case).where(
                Case.order_id == order.id, Case.status == "rejected")) >= 1
    # Every case event is mirrored on its order's public timeline, as services.log does.
    mirrored = db.session.scalar(select(func.count()).select_from(OrderEvent)
                                 .where(OrderEvent.kind.like("aftersales_%")))
    assert mirrored == db.session.scalar(select(func.count()).select_from(CaseEvent))


def test_the_plugin_pages_work_on_generated_cases(app):
    _generate(1500)
    set_enabled(True)
    owner = db.session.execute(select(User).where(User.role == "owner")).scalars().first()
    s = client_for(app, owner)
    open_one = db.session.execute(select(Case).where(Case.status.in_(OPEN_STATUSES)).limit(1)).scalar_one()
    html = s.get("/admin/aftersales/").get_data(as_text=True)
    assert open_one.number in html
    assert s.get("/admin/aftersales/?status=all").status_code == 200
    assert s.get("/admin/aftersales/?overdue=1").status_code == 200
    assert s.get(f"/admin/aftersales/{open_one.number}").status_code == 200
    assert s.get("/admin/aftersales/money/metrics").status_code == 200
    assert s.get("/admin/").status_code == 200


def test_aftersales_only_adds_cases_to_an_existing_shop(app):
    _generate(1500)
    before = db.session.scalar(select(func.count()).select_from(Case))
    db.session.execute(CaseEvent.__table__.delete())
    db.session.execute(CaseMessage.__table__.delete())
    db.session.execute(CaseLine.__table__.delete())
    db.session.execute(Case.__table__.delete())
    # As the order generator left them, before any case paid them.
    db.session.execute(Refund.__table__.update().values(idempotency_key="bench-refund-" + cast(Refund.id, String)))
    db.session.commit()
    generate_aftersales(db.engine, db.metadata, seed=11, log=lambda _line: None)
    db.session.expire_all()
    after = db.session.scalar(select(func.count()).select_from(Case))
    assert after > 0 and abs(after - before) < before
    # Run again: the orders have their cases already, nothing is added twice.
    generate_aftersales(db.engine, db.metadata, seed=11, log=lambda _line: None)
    assert db.session.scalar(select(func.count()).select_from(Case)) == after

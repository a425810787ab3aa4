"""Opening requests: what may be asked, amounts, evidence, escalation."""
from __future__ import annotations

import pytest

from plugins.aftersales import actions, cases
from plugins.aftersales.models import Case, Evidence
from storefront.errors import Conflict, Forbidden, NotFound, ValidationFailed
from storefront.extensions import db

from .conftest import (case_events, make_product, open_case, order_event_kinds, paid_order, png_bytes,
                       set_enabled, shipped_order)


@pytest.fixture(autouse=True)
def _no_auto_rules(enabled):
    # These tests look at requests as staff receive them.
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False)


def test_refund_only_defaults_to_what_was_paid_for_the_lines(app, buyer):
    product = make_product(price=5000, stock=10)
    order = shipped_order(buyer, items=[(product.skus[0], 2)], discount=1000)
    case = open_case(order, buyer)
    assert case.status == "requested" and case.kind == "refund_shipped"
    # 2 x 50.00 - 10.00 discount; the whole order was chosen so shipping is included too.
    assert case.amount_requested == order.total
    assert case.attempt == 1 and not case.escalated
    assert case_events(case) == [("requested", "buyer")]
    assert "aftersales_requested" in order_event_kinds(order.id)


def test_part_of_a_line_is_refundable_pro_rata(app, buyer):
    product = make_product(price=5000, stock=10)
    order = shipped_order(buyer, items=[(product.skus[0], 4)])
    case = open_case(order, buyer, lines={order.lines[0].id: 1})
    assert case.amount_requested == 5000
    assert [(cl.quantity, cl.amount) for cl in case.lines] == [(1, 5000)]


def test_amount_cannot_exceed_the_maximum(app, buyer):
    order = shipped_order(buyer, quantity=2)
    with pytest.raises(ValidationFailed) as exc:
        open_case(order, buyer, lines={order.lines[0].id: 1}, amount=5001)
    assert exc.value.code == "amount_too_high" and exc.value.details["max"] == 5000
    for bad in (0, -5, "abc", True):
        with pytest.raises(ValidationFailed):
            open_case(order, buyer, lines={order.lines[0].id: 1}, amount=bad)
    assert db.session.query(Case).count() == 0


def test_earlier_refunds_lower_the_maximum(app, buyer):
    from storefront.orders.transitions import Actor
    from storefront.payments.services import refund

    order = shipped_order(buyer)
    refund(order, 1500, "goodwill", "goodwill-1", Actor.system(), lines={order.lines[0].id: 1500})
    db.session.expire_all()
    case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=None)
    assert case.amount_requested == 5000 + 1000 - 1500


def test_bad_lines_and_kinds(app, buyer):
    order = shipped_order(buyer)
    other = shipped_order(buyer)
    with pytest.raises(ValidationFailed):
        open_case(order, buyer, lines={other.lines[0].id: 1})
    with pytest.raises(ValidationFailed):
        open_case(order, buyer, lines={order.lines[0].id: 2})
    with pytest.raises(ValidationFailed):
        open_case(order, buyer, lines={})
    with pytest.raises(ValidationFailed):
        open_case(order, buyer, kind="bogus")
    with pytest.raises(ValidationFailed):
        open_case(order, buyer, reason="bogus")
    with pytest.raises(Conflict) as exc:
        open_case(order, buyer, kind="refund_unshipped")
    assert exc.value.code == "kind_not_available"
    with pytest.raises(Conflict):
        open_case(paid_order(buyer), buyer, kind="return_refund", reason="changed_mind")


def test_another_buyers_order_is_not_found(app, buyer, other_buyer):
    order = shipped_order(buyer)
    with pytest.raises(NotFound):
        open_case(order, other_buyer)


def test_one_open_request_per_order(app, buyer):
    order = shipped_order(buyer)
    open_case(order, buyer)
    with pytest.raises(Conflict) as exc:
        open_case(order, buyer)
    assert exc.value.code == "case_open"


def test_evidence_required_for_quality_claims(app, buyer):
    order = shipped_order(buyer)
    with pytest.raises(ValidationFailed) as exc:
        open_case(order, buyer, kind="return_refund", reason="quality")
    assert exc.value.code == "evidence_required" and exc.value.field == "evidence"
    case = open_case(order, buyer, kind="return_refund", reason="quality", files=[png_bytes()])
    rows = db.session.query(Evidence).filter_by(case_id=case.id).all()
    assert len(rows) == 1 and rows[0].content_type.startswith("image/")


def test_second_request_after_rejection_escalates_to_owner(app, buyer, staff, owner):
    order = shipped_order(buyer)
    first = open_case(order, buyer)
    actions.reject(first, staff, "Parcel shows delivered in good order")
    second = open_case(order, buyer)
    assert second.escalated and second.attempt == 2 and second.category == "difficult"
    assert ("escalated", "buyer") in case_events(second)
    for act in (lambda: actions.approve(second, staff), lambda: actions.reject(second, staff, "no"),
                lambda: actions.refund(second, staff)):
        with pytest.raises(Forbidden) as exc:
            act()
        assert exc.value.code == "escalated_owner_only"
    actions.approve(second, owner)
    db.session.refresh(second)
    assert second.status == "approved" and second.escalation_decision == "buyer"


def test_owner_rejecting_an_escalated_request_decides_for_the_seller(app, buyer, staff, owner):
    order = shipped_order(buyer)
    actions.reject(open_case(order, buyer), staff, "no")
    second = open_case(order, buyer)
    actions.reject(second, owner, "Still no: the seal is broken")
    db.session.refresh(second)
    assert second.status == "rejected" and second.escalation_decision == "seller"


def test_completed_orders_only_within_the_window(app, buyer):
    from datetime import timedelta

    from storefront.clock import utcnow
    from storefront.orders.status import OrderStatus

    from .conftest import make_order

    recent = make_order(buyer, OrderStatus.COMPLETED)
    assert cases.kinds_for(recent)
    old = make_order(buyer, OrderStatus.COMPLETED)
    old.completed_at = utcnow() - timedelta(days=40)
    db.session.commit()
    assert cases.kinds_for(old) == []
    with pytest.raises(Conflict):
        open_case(old, buyer)


def test_buyer_cancels_and_may_ask_again(app, buyer):
    order = shipped_order(buyer)
    case = open_case(order, buyer)
    cases.cancel_case(case, buyer)
    db.session.refresh(case)
    assert case.status == "cancelled" and case.closed_at is not None
    again = open_case(order, buyer)
    assert not again.escalated  # a cancellation is not a rejection


def test_messages_thread_and_first_response(app, buyer, other_buyer, staff):
    case = open_case(shipped_order(buyer), buyer)
    cases.post_message(case, buyer, "Where is my money?")
    with pytest.raises(NotFound):
        cases.post_message(case, other_buyer, "hi")
    with pytest.raises(ValidationFailed):
        cases.post_message(case, buyer, "   ")
    assert case.first_response_at is None
    cases.post_message(case, staff, "Checking with the carrier.")
    db.session.refresh(case)
    assert case.first_response_at is not None


def test_the_request_is_written_without_reloading_the_order_or_the_buyer(app, buyer):
    """After a sale, refund requests come in waves: inside the write transaction (SQLite's
    write lock) the order is read once, locked, and the buyer not at all."""
    from tests.perf.conftest import count_queries

    order = shipped_order(buyer)
    db.session.commit()
    with count_queries() as seen:
        case = open_case(order, buyer)
    inside = seen.inside_writes()
    assert case.status == "requested" and inside.matching(r"^INSERT INTO aftersales_cases")
    assert len(inside.matching(r"^SELECT orders\.id, orders\.number")) == 1, inside
    assert not inside.matching(r"FROM users\b"), inside

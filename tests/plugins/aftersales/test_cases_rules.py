"""Automatic rules: instant approvals, the sweep's deadlines, idempotency, switches."""
from __future__ import annotations

from datetime import timedelta

import pytest

from plugins.aftersales import actions, cases
from plugins.aftersales.rules import sweep
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.status import OrderStatus

from .conftest import (case_events, fresh_case, make_product, open_case, order_event_kinds, paid_order, png_bytes,
                       refunds_of, reload, set_enabled, shipped_order, stock_of)

ADDRESS = "Returns desk, 88 Keji Road, Shenzhen"


def _age(case, **delta):
    from plugins.aftersales.models import Case

    db.session.query(Case).filter_by(id=case.id).update({"created_at": utcnow() - timedelta(**delta)})
    db.session.commit()


def test_unshipped_refund_is_approved_at_once(app, buyer, enabled):
    set_enabled(True, auto_approve_unshipped=True, auto_approve_unshipped_max=0)
    product = make_product(stock=3)
    order = paid_order(buyer, items=[(product.skus[0], 1)])
    case = open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    case = fresh_case(case)
    assert case.status == "refunded" and case.auto_approved
    assert reload(order).status == OrderStatus.CLOSED
    assert stock_of(product.skus[0].id) == 3
    assert case_events(case) == [("requested", "buyer"), ("auto_approved", "system"), ("refunded", "system")]
    assert "aftersales_auto_approved" in order_event_kinds(order.id)


def test_an_approved_unshipped_refund_does_not_read_the_case_back_under_the_write_lock(app, buyer, enabled):
    """Buyers cancel presale orders in waves after a sale, and the rule approves each at
    once: the case's moves are mirrored on it, not read back inside the write transaction."""
    from tests.perf.conftest import ORDER_ROW, count_queries

    set_enabled(True, auto_approve_unshipped=True, auto_approve_unshipped_max=0)
    order = paid_order(buyer, items=[(make_product(stock=3).skus[0], 1)])
    db.session.commit()
    with count_queries() as seen:
        case = open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    inside = seen.inside_writes()
    assert inside.matching(r"^UPDATE aftersales_cases SET status")
    assert not inside.matching(r"^SELECT aftersales_cases\.id, aftersales_cases\.number"), inside
    # The order: locked once by the request's creation, read once by the approval (the close
    # that follows in the same transaction does not read it again).
    assert len(inside.matching(ORDER_ROW)) == 2, inside.matching(ORDER_ROW)
    assert fresh_case(case).status == "refunded" and reload(order).status == OrderStatus.CLOSED


def test_unshipped_refund_above_the_cap_waits_for_staff(app, buyer, enabled):
    set_enabled(True, auto_approve_unshipped=True, auto_approve_unshipped_max=1000)
    case = open_case(paid_order(buyer), buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    assert fresh_case(case).status == "requested"
    assert sweep(utcnow())["aftersales_auto_approved"] == 0


def test_switched_off_rule_does_nothing(app, buyer, enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_refund_after_hours=0)
    case = open_case(paid_order(buyer), buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    assert fresh_case(case).status == "requested"
    assert sum(sweep(utcnow()).values()) == 0
    # Switched on later: the sweep catches up.
    set_enabled(True, auto_approve_unshipped=True)
    assert sweep(utcnow())["aftersales_auto_approved"] == 1
    assert fresh_case(case).status == "refunded"
    assert sweep(utcnow())["aftersales_auto_approved"] == 0


def test_no_reason_return_approved_with_the_address(app, buyer, enabled):
    set_enabled(True, auto_approve_no_reason_returns=True, return_address=ADDRESS)
    order = shipped_order(buyer)
    case = fresh_case(open_case(order, buyer, kind="return_refund", reason="changed_mind",
                                lines={order.lines[0].id: 1}))
    assert case.status == "awaiting_return" and case.auto_approved and case.return_address == ADDRESS


def test_no_reason_return_too_late_or_without_address_waits(app, buyer, enabled):
    set_enabled(True, auto_approve_no_reason_returns=True, return_address="")
    order = shipped_order(buyer)
    case = open_case(order, buyer, kind="return_refund", reason="changed_mind", lines={order.lines[0].id: 1})
    assert fresh_case(case).status == "requested"
    set_enabled(True, return_address=ADDRESS)
    old = shipped_order(buyer)
    old.shipped_at = utcnow() - timedelta(days=9)
    db.session.commit()
    late = open_case(old, buyer, kind="return_refund", reason="changed_mind", lines={old.lines[0].id: 1})
    assert fresh_case(late).status == "requested"


def test_unanswered_requests_are_decided_for_the_buyer(app, buyer, staff, enabled):
    set_enabled(True, auto_approve_no_reason_returns=False, auto_refund_after_hours=24, return_address=ADDRESS)
    order = shipped_order(buyer)
    refund_case = open_case(order, buyer, lines={order.lines[0].id: 1}, amount=2000)
    other = shipped_order(buyer)
    return_case = open_case(other, buyer, kind="return_refund", reason="quality", lines={other.lines[0].id: 1},
                            files=[png_bytes()])
    answered = shipped_order(buyer)
    answered_case = open_case(answered, buyer, lines={answered.lines[0].id: 1})
    cases.post_message(answered_case, staff, "Looking into it")
    assert sweep(utcnow())["aftersales_auto_decided"] == 0  # not old enough
    for c in (refund_case, return_case, answered_case):
        _age(c, hours=25)
    counts = sweep(utcnow())
    assert counts["aftersales_auto_decided"] == 2
    refund_case = fresh_case(refund_case)
    assert refund_case.status == "refunded" and refund_case.auto_approved and refund_case.amount_refunded == 2000
    assert ("auto_refunded", "system") in case_events(refund_case)
    assert [r.amount for r in refunds_of(order.id)] == [2000]
    assert fresh_case(return_case).status == "awaiting_return"
    assert fresh_case(answered_case).status == "requested"
    # Idempotent: a second sweep (or a second machine) does nothing more.
    assert sweep(utcnow())["aftersales_auto_decided"] == 0
    assert len(refunds_of(order.id)) == 1


def test_escalated_requests_are_never_decided_automatically(app, buyer, staff, enabled):
    set_enabled(True, auto_refund_after_hours=1)
    order = shipped_order(buyer)
    actions.reject(open_case(order, buyer), staff, "no")
    second = open_case(order, buyer)
    _age(second, hours=5)
    assert sweep(utcnow())["aftersales_auto_decided"] == 0
    assert fresh_case(second).status == "requested"


def test_returns_not_posted_in_time_close(app, buyer, staff, enabled):
    set_enabled(True, auto_approve_no_reason_returns=False, return_address=ADDRESS, return_post_days=7)
    order = shipped_order(buyer)
    case = open_case(order, buyer, kind="return_refund", reason="changed_mind", lines={order.lines[0].id: 1})
    actions.approve(case, staff)
    assert sweep(utcnow())["aftersales_returns_closed"] == 0
    later = utcnow() + timedelta(days=8)
    assert sweep(later)["aftersales_returns_closed"] == 1
    case = fresh_case(case)
    assert case.status == "closed" and case.closed_at
    assert case_events(case)[-1] == ("closed", "system")
    assert sweep(later)["aftersales_returns_closed"] == 0
    # Too late for the buyer now.
    from storefront.errors import ConcurrentUpdate

    with pytest.raises(ConcurrentUpdate):
        cases.enter_return_tracking(case, buyer, "SF Express", "SF12345678")


def test_tracking_after_the_deadline_is_refused_before_the_sweep(app, buyer, staff, enabled):
    from plugins.aftersales.models import Case
    from storefront.errors import Conflict

    set_enabled(True, auto_approve_no_reason_returns=False, return_address=ADDRESS)
    order = shipped_order(buyer)
    case = open_case(order, buyer, kind="return_refund", reason="changed_mind", lines={order.lines[0].id: 1})
    actions.approve(case, staff)
    db.session.query(Case).filter_by(id=case.id).update({"return_deadline": utcnow() - timedelta(minutes=1)})
    db.session.commit()
    with pytest.raises(Conflict) as exc:
        cases.enter_return_tracking(fresh_case(case), buyer, "SF Express", "SF12345678")
    assert exc.value.code == "return_deadline_passed"


def test_disabled_plugin_sweeps_nothing(app, buyer, enabled):
    from storefront.orders.sweeps import run_all_sweeps

    set_enabled(True, auto_approve_unshipped=False)
    case = open_case(paid_order(buyer), buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    set_enabled(False, auto_approve_unshipped=True)
    counts = run_all_sweeps(utcnow())
    assert "aftersales_auto_approved" not in counts
    assert fresh_case(case).status == "requested"


def test_skipped_requests_do_not_starve_later_ones(app, buyer, enabled, monkeypatch):
    from plugins.aftersales import rules

    set_enabled(True, auto_approve_unshipped=False)
    monkeypatch.setattr(rules, "BATCH", 2)
    over_cap = [open_case(paid_order(buyer), buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
                for _ in range(3)]
    small = make_product(price=500, stock=5)
    under = open_case(paid_order(buyer, items=[(small.skus[0], 1)], shipping=0), buyer, kind="refund_unshipped",
                      reason="changed_mind", lines=None)
    set_enabled(True, auto_approve_unshipped=True, auto_approve_unshipped_max=1000)
    assert sweep(utcnow())["aftersales_auto_approved"] == 1
    assert fresh_case(under).status == "refunded"
    assert all(fresh_case(c).status == "requested" for c in over_cap)

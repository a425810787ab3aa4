"""Automatic rules (settings), each logged on the timelines with a system actor
named after the rule:

- approve refund-only requests on unshipped orders (optionally up to an amount):
  the order closes, its stock comes back, the rest is refunded;
- approve 7-day no-reason returns ("changed mind") with the return address;
- decide for the buyer when staff have not answered a request within N hours
  (refund-only: refund; return: approve with the return address);
- close returns whose buyer did not post the parcel by the deadline.

They run right after a request is made and in the ``sweep`` hook (catch-up,
deadlines). Every step is a conditional status change, so running them twice
or on two machines at once does each thing once.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from storefront.database import write_transaction
from storefront.errors import ServiceError
from storefront.extensions import db
from storefront.orders.models import Order

from . import actions
from .models import (AWAITING_RETURN, CLOSED, OPEN_STATUSES, REFUND_SHIPPED, REFUND_UNSHIPPED, REQUESTED,
                     RETURN_KINDS, RETURN_REFUND, Case)
from .notices import notify
from .services import move, rule_actor, setting_int, settings

BATCH = 200

RULE_UNSHIPPED = "refund before shipment"
RULE_NO_REASON = "7-day no-reason return"
RULE_NO_ANSWER = "no staff answer"
RULE_NOT_POSTED = "return not posted"
RULE_ORDER_CLOSED = "order closed"


def _on(key: str) -> bool:
    return bool(settings().get(key))


def auto_rule_for(case: Case, now) -> str | None:
    """Which instant approval rule applies to a new request (None: staff decide)."""
    if case.status != REQUESTED or case.escalated:
        return None
    if case.kind == REFUND_UNSHIPPED and _on("auto_approve_unshipped"):
        cap = setting_int("auto_approve_unshipped_max")
        if cap <= 0 or case.amount_requested <= cap:
            return RULE_UNSHIPPED
    if case.kind == RETURN_REFUND and case.reason == "changed_mind" and _on("auto_approve_no_reason_returns") \
            and (settings().get("return_address") or "").strip():
        order = db.session.get(Order, case.order_id)
        received = order.completed_at or order.shipped_at if order is not None else None
        days = setting_int("no_reason_return_days")
        if received is not None and days > 0 and now <= received + timedelta(days=days):
            return RULE_NO_REASON
    return None


def _run(rule: str, case_id: int, step) -> bool:
    try:
        case = db.session.get(Case, case_id, populate_existing=True)
        if case is None:
            return False
        step(case, rule_actor(rule))
        return True
    except ServiceError as exc:
        # Someone (a person, another machine) acted first, or the rule does not
        # fit any more: staff decide. Logged, never raised to the buyer.
        db.session.rollback()
        current_app.logger.info("after-sales rule %r skipped case %s: %s", rule, case_id, exc.code)
        return False
    except Exception:  # one bad case must neither stop the sweep nor fail the buyer's request
        db.session.rollback()
        current_app.logger.exception("after-sales rule %r failed for case %s", rule, case_id)
        return False


def apply_on_create(case: Case) -> bool:
    from storefront.clock import utcnow

    rule = auto_rule_for(case, utcnow())
    if rule is None:
        return False
    return _run(rule, case.id, lambda c, actor: actions.approve(c, actor=actor, auto=True))


def _ids(stmt):
    """Every matching case id, a batch at a time in id order, so cases a rule
    skipped (above a cap, a failed refund) never starve the ones after them."""
    after = 0
    while True:
        batch = list(db.session.execute(stmt.where(Case.id > after).order_by(Case.id).limit(BATCH)).scalars())
        if not batch:
            return
        after = batch[-1]
        yield from batch


def sweep(now) -> dict[str, int]:
    counts = {"aftersales_auto_approved": 0, "aftersales_auto_decided": 0, "aftersales_returns_closed": 0}
    # Catch-up of the instant rules (e.g. requests made while a rule was off or a step failed).
    for case_id in _ids(select(Case.id).where(Case.status == REQUESTED, Case.escalated.is_(False),
                                              Case.kind.in_((REFUND_UNSHIPPED, RETURN_REFUND)))):
        case = db.session.get(Case, case_id)
        rule = auto_rule_for(case, now) if case is not None else None
        if rule and _run(rule, case_id, lambda c, actor: actions.approve(c, actor=actor, auto=True)):
            counts["aftersales_auto_approved"] += 1
    hours = setting_int("auto_refund_after_hours")
    if hours > 0:
        stmt = select(Case.id).where(Case.status == REQUESTED, Case.escalated.is_(False),
                                     Case.first_response_at.is_(None),
                                     Case.created_at <= now - timedelta(hours=hours))
        for case_id in _ids(stmt):
            if _run(RULE_NO_ANSWER, case_id, _decide_for_buyer):
                counts["aftersales_auto_decided"] += 1
    for case_id in _ids(select(Case.id).where(Case.status == AWAITING_RETURN, Case.return_deadline < now)):
        if _run(RULE_NOT_POSTED, case_id, _close_unposted):
            counts["aftersales_returns_closed"] += 1
    return counts


def _decide_for_buyer(case: Case, actor) -> None:
    if case.kind == REFUND_SHIPPED:
        actions.refund(case, actor=actor, auto=True)
    elif case.kind in RETURN_KINDS or case.kind == REFUND_UNSHIPPED:
        actions.approve(case, actor=actor, auto=True)


def _close_unposted(case: Case, actor) -> None:
    with write_transaction():
        move(case, (AWAITING_RETURN,), CLOSED, actor, "closed",
             data={"return_deadline": case.return_deadline.isoformat() if case.return_deadline else None})
        notify(case, "closed")


def close_with_order(order_id: int) -> int:
    """An order closed outside the case (the buyer cancelled it, staff cancelled
    it, it was fully refunded): requests still open on it have nothing left to decide."""
    done = 0
    for case_id in list(db.session.execute(select(Case.id).where(Case.order_id == order_id,
                                                                 Case.status.in_(OPEN_STATUSES))).scalars()):
        if _run(RULE_ORDER_CLOSED, case_id, _close_with_order):
            done += 1
    return done


def _close_with_order(case: Case, actor) -> None:
    with write_transaction():
        move(case, OPEN_STATUSES, CLOSED, actor, "closed_with_order")

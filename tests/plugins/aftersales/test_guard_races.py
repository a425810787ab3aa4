"""Write skew between opening a case and the transitions after-sales' guard can veto.

The buyer's case and the staff member's status change touch different rows:
on PostgreSQL (READ COMMITTED) the guard's read of open cases could not see a
case being opened, and the status UPDATE only re-checks the status, so an
order could ship (or complete) with an open request. The interleaving is
forced with events: the request holds its inserted, uncommitted case until
the transition has passed the guard -- or, since the guard now waits on the
order row lock the request holds, for a short while. Every wait has a
timeout, so neither database can hang the test.

On SQLite the transition cannot start its write transaction while the
request writes (BEGIN IMMEDIATE), so the interleaving cannot happen; the
same assertions hold there.

Threads never touch the test's ORM objects: ids are captured first.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from plugins.aftersales import cases as cases_mod
from plugins.aftersales.models import OPEN_STATUSES, Case
from storefront.accounts.models import User
from storefront.errors import Conflict, TransitionVetoed
from storefront.extensions import db
from storefront.orders import services as order_services
from storefront.orders import transitions
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from tests.races import start_thread

from .conftest import paid_order, reload, set_enabled, shipped_order

REQUEST, TRANSITION = "guard-race-request", "guard-race-transition"
#: How long the request holds its uncommitted case once the transition is at
#: the guard. Before the fix the transition passes the guard in milliseconds;
#: with it, the transition waits for the request's lock, so this always runs out.
HOLD_SECONDS = 1.0
#: Upper bound of every other wait (a thread that failed early sets its events
#: on the way out, so this is only reached when something is badly wrong).
WAIT_SECONDS = 10.0


@pytest.fixture(autouse=True)
def _manual(enabled):
    # A case approved on creation would close the order: keep the request open.
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False)


def _race(app, monkeypatch, request, move):
    """Run ``request`` (opens a case) and ``move`` (changes the order's status) so
    that ``move`` reaches the guard while the case is inserted but uncommitted.
    Returns each side's result (a value or the exception raised) and whether
    the transition reached the guard while the case was held."""
    postgres = db.engine.dialect.name == "postgresql"
    case_held, at_guard, past_guard = threading.Event(), threading.Event(), threading.Event()
    # at_guard is also set when the transition's thread ends (to release the
    # request); this records only a real arrival at the guard.
    seen_at_guard: list[bool] = []
    orig_log, orig_get_host, orig_flatten = cases_mod.log, transitions.get_host, transitions.flatten

    def log(case, kind, *args, **kwargs):
        event = orig_log(case, kind, *args, **kwargs)
        if kind == "requested" and threading.current_thread().name == REQUEST and not case_held.is_set():
            # The case is inserted and the order row locked; nothing is committed yet.
            case_held.set()
            # On SQLite the transition is queued behind BEGIN IMMEDIATE and
            # cannot reach the guard before this commits: do not wait for it.
            if at_guard.wait(WAIT_SECONDS if postgres else 0):
                past_guard.wait(HOLD_SECONDS)
        return event

    def get_host():
        # transition() asks for the host right before calling the guards.
        if threading.current_thread().name == TRANSITION and not at_guard.is_set():
            seen_at_guard.append(case_held.is_set())
            at_guard.set()
        return orig_get_host()

    def flatten(results):
        out = orig_flatten(results)
        if threading.current_thread().name == TRANSITION:
            past_guard.set()
        return out

    monkeypatch.setattr(cases_mod, "log", log)
    monkeypatch.setattr(transitions, "get_host", get_host)
    monkeypatch.setattr(transitions, "flatten", flatten)

    def run_request():
        try:
            return request()
        finally:
            case_held.set()  # never leave the transition waiting for a request that failed

    def run_move():
        try:
            case_held.wait(WAIT_SECONDS)
            return move()
        finally:
            at_guard.set()
            past_guard.set()

    results: dict = {}
    threads = [start_thread(app, REQUEST, run_request, results), start_thread(app, TRANSITION, run_move, results)]
    for t in threads:
        t.join(3 * WAIT_SECONDS)
    assert not any(t.is_alive() for t in threads), "a racing thread is stuck"
    db.session.rollback()  # a fresh snapshot for the checks
    return {"request": results.get(REQUEST), "transition": results.get(TRANSITION)}, seen_at_guard == [True]


def _open_kinds(order_id: int) -> list[str]:
    return list(db.session.execute(
        select(Case.kind).where(Case.order_id == order_id, Case.status.in_(OPEN_STATUSES))).scalars())


def _check(results, reached_guard, order_id, *, before, after, kind):
    """Never ``after`` with an open ``kind`` case: one of the two was refused."""
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        # The race really ran: the transition was at the guard while the case was uncommitted.
        assert reached_guard, results
    status, open_kinds = OrderStatus(reload(order_id).status), _open_kinds(order_id)
    assert not (status == after and kind in open_kinds), (status, open_kinds, results)
    if isinstance(results["transition"], TransitionVetoed):
        assert isinstance(results["request"], str), results
        assert (status, open_kinds) == (before, [kind])
    else:
        assert results["transition"] == "moved", results
        assert isinstance(results["request"], Conflict), results
        assert (status, open_kinds) == (after, [])


def test_shipping_never_slips_past_a_refund_request_being_opened(app, monkeypatch, buyer, staff):
    order = paid_order(buyer)
    db.session.commit()
    order_id, buyer_id, staff_id = order.id, buyer.id, staff.id

    def request():
        user, o = db.session.get(User, buyer_id), db.session.get(Order, order_id)
        return cases_mod.create_case(o, user, {"kind": "refund_unshipped", "reason": "changed_mind",
                                               "description": ""}).number

    def move():
        user, o = db.session.get(User, staff_id), db.session.get(Order, order_id)
        order_services.ship_order(o, user, "SF Express", "SF12345678")
        return "moved"

    results, reached = _race(app, monkeypatch, request, move)
    _check(results, reached, order_id, before=OrderStatus.PAID, after=OrderStatus.SHIPPED,
           kind="refund_unshipped")


def test_confirming_receipt_never_completes_over_a_request_being_opened(app, monkeypatch, buyer):
    order = shipped_order(buyer)
    db.session.commit()
    order_id, buyer_id = order.id, buyer.id
    line_id, quantity = order.lines[0].id, order.lines[0].quantity

    def request():
        user, o = db.session.get(User, buyer_id), db.session.get(Order, order_id)
        return cases_mod.create_case(o, user, {"kind": "refund_shipped", "reason": "price_difference",
                                               "description": "", "lines": {line_id: quantity}}).number

    def move():
        user, o = db.session.get(User, buyer_id), db.session.get(Order, order_id)
        order_services.confirm_receipt(o, user)
        return "moved"

    results, reached = _race(app, monkeypatch, request, move)
    _check(results, reached, order_id, before=OrderStatus.SHIPPED, after=OrderStatus.COMPLETED,
           kind="refund_shipped")

"""storefront.orders.transitions.transition(): the one door for order statuses.

Orders are inserted directly (no checkout) so only transition() itself is
under test: the table, the guard hook, the conditional UPDATE under real
threads, the timeline event and the after-commit ``order_event`` hook.
"""
from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import func, select, text

from storefront.database import write_transaction
from storefront.errors import ConcurrentUpdate, InvalidTransition, TransitionVetoed
from storefront.extensions import db
from storefront.orders.models import Order, OrderEvent
from storefront.orders.status import TRANSITIONS, OrderStatus
from storefront.orders.transitions import SYSTEM, Actor, can_transition, transition
from storefront.plugins import hookimpl
from storefront.plugins.host import get_host

from .factories import make_staff

_numbers = itertools.count(1)
ALL_PAIRS = list(itertools.product(OrderStatus, OrderStatus))
VALID = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
INVALID = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def insert_order(status: OrderStatus) -> Order:
    order = Order(number=f"TR{next(_numbers):08d}", status=status, currency="CNY", subtotal=5000,
                  total=6000, shipping_total=1000, delivery_code="courier", delivery_label="Courier")
    db.session.add(order)
    db.session.commit()
    return order


def events_of(order_id: int) -> list[OrderEvent]:
    db.session.rollback()  # end this session's read snapshot: see what other threads committed
    return list(db.session.execute(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)).scalars())


def stored_status(order_id: int) -> str:
    """The committed status, read on a connection of its own."""
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT status FROM orders WHERE id = :id"), {"id": order_id}).scalar_one()


class Recorder:
    """A stand-in plugin: vetoes on demand and records order events."""

    def __init__(self) -> None:
        self.veto: str | None = None
        self.events: list = []
        self.committed_status_seen: list[str] = []
        self.fail = False

    @hookimpl
    def transition_guard(self, obj, to, actor):
        return self.veto

    @hookimpl
    def order_event(self, order, event):
        self.events.append(event)
        self.committed_status_seen.append(stored_status(event.order_id))
        if self.fail:
            raise RuntimeError("notification service down")


@pytest.fixture
def recorder(app):
    plugin = Recorder()
    pm = get_host(app).pm
    pm.register(plugin, name="test-transition-recorder")
    try:
        yield plugin
    finally:
        pm.unregister(name="test-transition-recorder")


def test_table_has_every_status_and_final_states_are_final():
    assert set(TRANSITIONS) == set(OrderStatus)
    assert TRANSITIONS[OrderStatus.COMPLETED] == frozenset()
    assert TRANSITIONS[OrderStatus.CLOSED] == frozenset()
    assert all(not can_transition(s, s) for s in OrderStatus)


@pytest.mark.parametrize("from_status, to_status", VALID, ids=[f"{a}->{b}" for a, b in VALID])
def test_valid_transition_writes_status_and_exactly_one_event(app, recorder, from_status, to_status):
    staff = make_staff()
    order = insert_order(from_status)
    actor = Actor.of(staff)
    with write_transaction():
        event = transition(order, to_status, actor=actor, reason="table test")
    assert stored_status(order.id) == to_status.value
    assert order.status == to_status
    events = events_of(order.id)
    assert len(events) == 1
    (row,) = events
    assert row.id == event.id
    assert (row.kind, row.from_status, row.to_status, row.reason) == \
        ("status", from_status.value, to_status.value, "table test")
    assert (row.actor_kind, row.actor_id, row.actor_label) == ("staff", staff.id, staff.email)
    stamp = {OrderStatus.PAID: "paid_at", OrderStatus.SHIPPED: "shipped_at",
             OrderStatus.COMPLETED: "completed_at", OrderStatus.CLOSED: "closed_at"}[to_status]
    assert getattr(db.session.get(Order, order.id), stamp) is not None
    assert [(e.from_status, e.to_status) for e in recorder.events] == [(from_status.value, to_status.value)]


@pytest.mark.parametrize("from_status, to_status", INVALID, ids=[f"{a}->{b}" for a, b in INVALID])
def test_invalid_transition_is_refused_with_details_and_writes_nothing(app, recorder, from_status, to_status):
    order = insert_order(from_status)
    with pytest.raises(InvalidTransition) as caught:
        with write_transaction():
            transition(order, to_status, actor=SYSTEM, reason="should fail")
    assert caught.value.code == "invalid_transition"
    assert caught.value.status == 409
    assert caught.value.details == {"from": from_status.value, "to": to_status.value}
    assert stored_status(order.id) == from_status.value
    assert events_of(order.id) == []
    assert recorder.events == []


def test_unknown_status_is_refused(app):
    order = insert_order(OrderStatus.PAID)
    with pytest.raises(ValueError):
        transition(order, "lost", actor=SYSTEM)


def test_guard_veto_refuses_and_writes_nothing(app, recorder):
    order = insert_order(OrderStatus.PAID)
    recorder.veto = "presale balance not paid yet"
    with pytest.raises(TransitionVetoed) as caught:
        with write_transaction():
            transition(order, OrderStatus.SHIPPED, actor=SYSTEM)
    assert "presale balance not paid yet" in caught.value.message
    assert caught.value.details == {"from": "paid", "to": "shipped"}
    db.session.expire_all()
    assert stored_status(order.id) == "paid"
    assert db.session.get(Order, order.id).shipped_at is None
    assert events_of(order.id) == []
    assert recorder.events == []

    recorder.veto = None  # the same call passes once nobody objects
    with write_transaction():
        transition(db.session.get(Order, order.id), OrderStatus.SHIPPED, actor=SYSTEM)
    assert stored_status(order.id) == "shipped"


def test_guard_receives_the_order_target_and_actor(app):
    seen = []

    class Spy:
        @hookimpl
        def transition_guard(self, obj, to, actor):
            seen.append((obj.id, to, actor.kind))

    pm = get_host(app).pm
    pm.register(Spy(), name="spy")
    try:
        order = insert_order(OrderStatus.PENDING_PAYMENT)
        with write_transaction():
            transition(order, OrderStatus.CLOSED, actor=Actor("buyer", None, "b"))
    finally:
        pm.unregister(name="spy")
    assert seen == [(order.id, OrderStatus.CLOSED, "buyer")]


def _race(app, order_id: int, targets: list[OrderStatus], *, use_expected: bool) -> list:
    """Each thread reads the order, waits for the others, then transitions it
    in its own write transaction (real threads, real database)."""
    barrier = threading.Barrier(len(targets))
    outcomes: list = [None] * len(targets)

    def worker(index: int, target: OrderStatus) -> None:
        with app.app_context():
            try:
                seen = db.session.get(Order, order_id).status  # everyone sees the same status
                barrier.wait(timeout=30)
                with write_transaction():
                    order = db.session.get(Order, order_id)
                    transition(order, target, actor=SYSTEM, reason=f"thread {index}",
                               expected=seen if use_expected else None)
                outcomes[index] = "won"
            except Exception as exc:  # judged by the assertions below
                outcomes[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return outcomes


RACES = [
    (OrderStatus.PAID, [OrderStatus.SHIPPED, OrderStatus.CLOSED]),
    (OrderStatus.PAID, [OrderStatus.CLOSED, OrderStatus.CLOSED]),
    (OrderStatus.PENDING_PAYMENT, [OrderStatus.PAID, OrderStatus.CLOSED, OrderStatus.PAID, OrderStatus.CLOSED]),
    (OrderStatus.SHIPPED, [OrderStatus.COMPLETED] * 4),
]


@pytest.mark.parametrize("start, targets", RACES, ids=["ship-vs-cancel", "cancel-twice", "pay-vs-close-x4",
                                                       "confirm-x4"])
def test_concurrent_transitions_exactly_one_wins_the_others_concurrent_update(app, recorder, start, targets):
    for _round in range(3):
        order = insert_order(start)
        outcomes = _race(app, order.id, targets, use_expected=True)
        winners = [i for i, o in enumerate(outcomes) if o == "won"]
        assert len(winners) == 1, outcomes
        losers = [o for o in outcomes if o != "won"]
        assert losers and all(isinstance(o, ConcurrentUpdate) for o in losers), losers
        assert all(o.code == "concurrent_update" and o.details["from"] == start.value for o in losers)
        db.session.expire_all()
        assert stored_status(order.id) == targets[winners[0]].value
        assert len(events_of(order.id)) == 1
    assert len(recorder.events) == 3


@pytest.mark.parametrize("start, target", [(OrderStatus.PAID, OrderStatus.CLOSED),
                                           (OrderStatus.SHIPPED, OrderStatus.COMPLETED)])
def test_same_transition_in_parallel_happens_once_without_expected(app, recorder, start, target):
    """Two sweeps auto-completing the same order: one wins, the other gets a 409."""
    order = insert_order(start)
    outcomes = _race(app, order.id, [target] * 3, use_expected=False)
    assert outcomes.count("won") == 1, outcomes
    assert all(isinstance(o, (ConcurrentUpdate, InvalidTransition)) for o in outcomes if o != "won")
    assert len(events_of(order.id)) == 1
    assert len(recorder.events) == 1


def test_stale_order_object_loses_to_the_committed_change(app, recorder):
    """The conditional UPDATE itself: an object still saying "paid" cannot win
    once another connection committed "shipped"."""
    order = insert_order(OrderStatus.PAID)
    order_id = order.id  # loads every column
    db.session.commit()
    db.session.refresh(order)
    db.session.expunge(order)  # keep the loaded (soon stale) state, no open transaction
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE orders SET status = 'shipped' WHERE id = :id"), {"id": order_id})
    db.session.add(order)
    assert order.status == OrderStatus.PAID
    with pytest.raises(ConcurrentUpdate) as caught:
        with write_transaction():
            # write_transaction's commit would refresh it; make it stale again inside.
            from sqlalchemy.orm.attributes import set_committed_value

            set_committed_value(order, "status", OrderStatus.PAID)
            transition(order, OrderStatus.CLOSED, actor=SYSTEM)
    assert caught.value.details == {"from": "paid", "to": "closed"}
    assert stored_status(order.id) == "shipped"
    assert events_of(order.id) == []
    assert recorder.events == []


def test_expected_status_mismatch_is_a_concurrent_update(app):
    order = insert_order(OrderStatus.SHIPPED)
    with pytest.raises(ConcurrentUpdate) as caught:
        transition(order, OrderStatus.CLOSED, actor=SYSTEM, expected=OrderStatus.PAID)
    assert caught.value.details == {"from": "paid", "to": "closed", "current": "shipped"}
    db.session.rollback()
    assert stored_status(order.id) == "shipped"


def test_order_event_runs_after_commit_with_the_committed_row(app, recorder):
    order = insert_order(OrderStatus.PENDING_PAYMENT)
    with write_transaction():
        transition(order, OrderStatus.PAID, actor=SYSTEM, reason="paid")
        assert recorder.events == []  # not inside the transaction
    assert len(recorder.events) == 1
    info = recorder.events[0]
    assert (info.order_id, info.kind, info.from_status, info.to_status, info.reason, info.actor_kind) == \
        (order.id, "status", "pending_payment", "paid", "paid", "system")
    # When the hook ran, another connection already saw the new status.
    assert recorder.committed_status_seen == ["paid"]


def test_order_event_is_not_called_on_rollback(app, recorder):
    order = insert_order(OrderStatus.PENDING_PAYMENT)
    with pytest.raises(RuntimeError):
        with write_transaction():
            transition(order, OrderStatus.PAID, actor=SYSTEM)
            raise RuntimeError("payment provider said no after all")
    assert recorder.events == []
    assert stored_status(order.id) == "pending_payment"
    assert events_of(order.id) == []
    # A later commit does not resurrect the rolled-back callback.
    other = insert_order(OrderStatus.PAID)
    with write_transaction():
        transition(other, OrderStatus.SHIPPED, actor=SYSTEM)
    assert [e.order_id for e in recorder.events] == [other.id]


def test_failing_order_event_hook_does_not_undo_the_commit(app, recorder, caplog):
    recorder.fail = True
    order = insert_order(OrderStatus.PAID)
    with write_transaction():
        transition(order, OrderStatus.CLOSED, actor=SYSTEM, reason="cancelled")
    assert len(recorder.events) == 1
    assert stored_status(order.id) == "closed"
    assert "order_event" in caplog.text


def test_commit_outside_write_transaction_defers_hook_to_teardown(app, recorder):
    order = insert_order(OrderStatus.PAID)
    transition(order, OrderStatus.SHIPPED, actor=SYSTEM)
    db.session.commit()
    # Callbacks never run inside the commit event; the request/app-context
    # teardown (or the next write_transaction) runs them.
    from storefront.database import run_after_commit_callbacks

    run_after_commit_callbacks()
    assert [(e.order_id, e.to_status) for e in recorder.events] == [(order.id, "shipped")]
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 1


def test_nested_write_transaction_joins_the_outer_one(app, recorder):
    """An inner block must not commit half of the outer one."""
    first, second = insert_order(OrderStatus.PAID), insert_order(OrderStatus.PAID)
    with pytest.raises(RuntimeError):
        with write_transaction():
            with write_transaction():
                transition(first, OrderStatus.SHIPPED, actor=SYSTEM)
            assert recorder.events == []  # the inner block did not commit
            transition(second, OrderStatus.SHIPPED, actor=SYSTEM)
            raise RuntimeError("the outer block fails after the inner one finished")
    assert (stored_status(first.id), stored_status(second.id)) == ("paid", "paid")
    assert recorder.events == []

    with write_transaction():
        with write_transaction():
            transition(db.session.get(Order, first.id), OrderStatus.SHIPPED, actor=SYSTEM)
        transition(db.session.get(Order, second.id), OrderStatus.SHIPPED, actor=SYSTEM)
    assert (stored_status(first.id), stored_status(second.id)) == ("shipped", "shipped")
    assert sorted(e.order_id for e in recorder.events) == sorted([first.id, second.id])


def test_paying_adds_the_share_and_pays_in_one_update(app):
    order = insert_order(OrderStatus.PENDING_PAYMENT)
    from tests.perf.conftest import count_queries

    with write_transaction():
        with count_queries() as seen:
            event = transition(order, OrderStatus.PAID, actor=SYSTEM, paying=6000)
        assert len(seen.matching(r"^UPDATE orders")) == 1
    assert event is not None and order.paid_total == 6000 and order.status == OrderStatus.PAID
    db.session.expire_all()
    stored = db.session.get(Order, order.id)
    assert (stored.status, stored.paid_total) == (OrderStatus.PAID, 6000) and stored.paid_at is not None
    assert [e.to_status for e in events_of(order.id)] == [OrderStatus.PAID]


@pytest.mark.parametrize("meanwhile", ["another_share", "closed"])
def test_a_share_that_no_longer_completes_the_order_writes_nothing(app, meanwhile):
    """Read pending with nothing paid; before the UPDATE another payment's share arrived, or
    the order closed: the caller gets None and applies its share the general way."""
    order = insert_order(OrderStatus.PENDING_PAYMENT)
    change = ("UPDATE orders SET paid_total = 1000 WHERE id = :id" if meanwhile == "another_share"
              else "UPDATE orders SET status = 'closed' WHERE id = :id")
    with db.engine.begin() as other:
        other.execute(text(change), {"id": order.id})
    with write_transaction(keep=(order,)):  # as read before the change
        assert transition(order, OrderStatus.PAID, actor=SYSTEM, paying=6000) is None
        assert (order.status, order.paid_total) == (OrderStatus.PENDING_PAYMENT, 0)
    db.session.expire_all()
    stored = db.session.get(Order, order.id)
    assert stored.status != OrderStatus.PAID and stored.paid_at is None
    assert stored.paid_total == (1000 if meanwhile == "another_share" else 0)
    assert events_of(order.id) == []


@pytest.mark.parametrize("outcome", ["veto", "error"])
def test_guards_see_the_paying_share_and_the_order_is_as_read_if_one_objects(app, outcome):
    """The guards see the order as the payment leaves it; a veto, or a guard that fails,
    leaves the object as it was read."""
    seen = []

    class Guard:
        @hookimpl
        def transition_guard(self, obj, to, actor):
            seen.append(obj.paid_total)
            if outcome == "error":
                raise RuntimeError("guard broke")
            return "not now"

    order = insert_order(OrderStatus.PENDING_PAYMENT)
    pm = get_host(app).pm
    pm.register(Guard(), name="guard")
    try:
        with write_transaction(keep=(order,)):
            with pytest.raises(TransitionVetoed if outcome == "veto" else RuntimeError):
                transition(order, OrderStatus.PAID, actor=SYSTEM, paying=6000)
            assert (order.status, order.paid_total) == (OrderStatus.PENDING_PAYMENT, 0)  # as read, no reload
    finally:
        pm.unregister(name="guard")
    assert seen == [6000]
    assert events_of(order.id) == []

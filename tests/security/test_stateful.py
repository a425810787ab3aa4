"""Stateful property test over the whole life of orders (issue 10, part B).

Hypothesis drives the real service layer on the real test database (SQLite,
or PostgreSQL with STOREFRONT_TEST_DATABASE_URL): buyers fill carts, use a
limited coupon, check out (courier or store pickup, spot stock or presale
quota, full payment or deposit + balance), pay (sometimes twice), cancel;
staff ship, cancel for a reason, hand pickups over, decide after-sales
requests and refund; the clock moves forward and every sweep runs. Another
buyer pokes at orders that are not hers. After every step the database must
satisfy the invariants of ``stateful_invariants``: stock and quotas
conserved, coupon uses within limits, refunded <= paid per line and order,
totals equal a recomputation, and a complete timeline.

A business refusal (any ``ServiceError``) is a fine outcome for a step; any
other exception, or a violated invariant, fails the test. Each example
starts from empty tables; ``derandomize`` keeps CI runs reproducible.
"""
from __future__ import annotations

import pytest
from flask_login import login_user
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)
from sqlalchemy import select

import plugins.aftersales.models  # noqa: F401  (tables in the metadata before the schema is created)
import plugins.coupons.models  # noqa: F401
import plugins.presale.models  # noqa: F401
import plugins.store_pickup.models  # noqa: F401
from storefront.errors import Forbidden, NotFound, ServiceError
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from tests.checkout.helpers import ADDRESS
from tests.conftest import _wipe

from . import stateful_invariants as inv
from .stateful_world import COUPON_CODE, build_world

CLOCK = "STOREFRONT_CLOCK_OFFSET_SECONDS"
# Steps of the clock: within the hour, past the unpaid deadline, into and past the
# presale balance window, past the pickup and auto-confirm deadlines.
HOURS = (1, 12, 49, 72, 24 * 8, 24 * 15)

SETTINGS = settings(max_examples=10, stateful_step_count=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _pick(rows, index):
    return rows[index % len(rows)] if rows else None


class ShopMachine(RuleBasedStateMachine):
    app = None  # set by the test before the machine runs

    def __init__(self):
        super().__init__()
        self.app.config[CLOCK] = 0
        _wipe(self.app)
        self.world = build_world()
        self.refusals: dict[str, int] = {}

    def teardown(self):
        self.app.config[CLOCK] = 0
        db.session.rollback()

    # -- helpers ------------------------------------------------------------------------
    def attempt(self, fn, *args, **kwargs):
        """Run a use case; a business refusal is a fine outcome, anything else fails the test."""
        try:
            result = fn(*args, **kwargs)
        except ServiceError as exc:
            db.session.rollback()
            self.refusals[exc.code] = self.refusals.get(exc.code, 0) + 1
            return None
        db.session.commit()
        return result

    def orders(self, *statuses, pickup: bool | None = None) -> list[Order]:
        db.session.expire_all()
        stmt = select(Order).order_by(Order.id)
        if statuses:
            stmt = stmt.where(Order.status.in_(statuses))
        rows = list(db.session.execute(stmt).scalars())
        if pickup is not None:
            rows = [o for o in rows if (o.delivery_code == "store_pickup") == pickup]
        return rows

    def owner_of(self, order: Order):
        return next(b for b in self.world.buyers if b.id == order.user_id)

    def other_than(self, order: Order):
        return next(b for b in self.world.buyers if b.id != order.user_id)

    def pay(self, payment):
        from storefront.payments.providers import TestProvider
        from storefront.payments.services import confirm_payment

        return self.attempt(confirm_payment, TestProvider.provider_ref_for(payment), payment.amount,
                            payment_reference=payment.reference, provider_name=TestProvider.name)

    def cases(self, *statuses):
        from plugins.aftersales.models import Case

        db.session.expire_all()
        return list(db.session.execute(select(Case).where(Case.status.in_(statuses)).order_by(Case.id)).scalars())

    @initialize(shipped=st.booleans(), pickup=st.booleans(), deposit=st.booleans())
    def some_paid_orders(self, shipped, pickup, deposit):
        """Start with a few paid orders so that short runs reach the later stages too."""
        from storefront.payments.models import Payment, PaymentStatus

        self.checkout(0, [(0, 1), (1, 1)], coupon=True, pickup=False, twice=False)
        self.checkout(1, [(1, 1)], coupon=False, pickup=pickup, twice=False)
        if deposit:
            self.checkout(1, [(3, 1)], coupon=False, pickup=False, twice=False)
        for payment in db.session.execute(select(Payment).where(Payment.status == PaymentStatus.PENDING)
                                          .order_by(Payment.id)).scalars().all():
            self.pay(payment)
        if shipped:
            self.staff_ships(0)

    # -- buyers -------------------------------------------------------------------------
    @rule(b=st.integers(0, 1), s=st.integers(0, 3), qty=st.integers(1, 3))
    def add_to_cart(self, b, s, qty):
        from storefront.cart import services as carts

        buyer = self.world.buyers[b]
        sku = (self.world.spot_skus + self.world.presale_skus)[s]
        with self.app.test_request_context():
            login_user(buyer)
            cart = carts.get_cart(create=True, user=buyer)
            self.attempt(carts.add_item, cart, sku, qty)

    @rule(b=st.integers(0, 1))
    def use_coupon(self, b):
        from plugins.coupons.services import apply_code
        from storefront.cart.services import find_cart

        buyer = self.world.buyers[b]
        with self.app.test_request_context():
            login_user(buyer)
            self.attempt(apply_code, buyer, find_cart(buyer), COUPON_CODE)

    @rule(b=st.integers(0, 1), items=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), min_size=1,
                                              max_size=2),
          coupon=st.booleans(), pickup=st.booleans(), twice=st.booleans())
    def checkout(self, b, items, coupon, pickup, twice):
        """Fill the cart (spot and/or presale items), maybe use the coupon, place it."""
        from plugins.coupons.services import apply_code
        from plugins.store_pickup import services as pickups
        from storefront.cart import services as carts
        from storefront.checkout.services import place_order

        buyer = self.world.buyers[b]
        skus = self.world.spot_skus + self.world.presale_skus
        kwargs = {"idempotency_key": self.world.key("checkout"), "address": dict(ADDRESS)}
        if pickup:
            from plugins.store_pickup.models import Location

            slots = pickups.available_slots(db.session.get(Location, self.world.location_id))
            kwargs.update(delivery_code=pickups.OPTION_CODE, extra={
                pickups.FIELD_SLOT: slots[0].key, pickups.FIELD_NAME: "Han Meimei", pickups.FIELD_PHONE: "13900001111"})
        with self.app.test_request_context():
            login_user(buyer)
            cart = carts.get_cart(create=True, user=buyer)
            for index, quantity in items:
                self.attempt(carts.add_item, cart, skus[index], quantity)
            if coupon:
                self.attempt(apply_code, buyer, carts.find_cart(buyer), COUPON_CODE)
            first = self.attempt(place_order, buyer, **kwargs)
            if first is not None and twice:
                # A double submission returns the same checkout, never a second one.
                again = self.attempt(place_order, buyer, **kwargs)
                assert again is not None and again.payment.id == first.payment.id and not again.created

    @rule(i=st.integers(0, 50), twice=st.booleans())
    def pay_checkout(self, i, twice):
        from storefront.payments.models import Payment, PaymentStatus

        db.session.expire_all()
        pending = list(db.session.execute(select(Payment).where(Payment.status == PaymentStatus.PENDING)
                                          .order_by(Payment.id)).scalars())
        payment = _pick(pending, i)
        if payment is None:
            return
        self.pay(payment)
        if twice:  # a replayed provider callback changes nothing
            self.pay(payment)

    @rule(i=st.integers(0, 50))
    def pay_balance(self, i):
        from plugins.presale.services import start_balance

        candidates = [o for o in self.orders(OrderStatus.PENDING_PAYMENT) if 0 < o.paid_total < o.total]
        order = _pick(candidates, i)
        if order is None:
            return
        payment = self.attempt(start_balance, order, self.owner_of(order), self.world.key("balance"))
        if payment is not None:
            self.pay(payment)

    @rule(i=st.integers(0, 50))
    def buyer_cancels(self, i):
        from storefront.orders.services import cancel_by_buyer

        order = _pick(self.orders(OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.SHIPPED), i)
        if order is not None:
            self.attempt(cancel_by_buyer, order, self.owner_of(order))

    @rule(i=st.integers(0, 50))
    def buyer_confirms(self, i):
        from storefront.orders.services import confirm_receipt

        order = _pick(self.orders(OrderStatus.SHIPPED, pickup=False), i)
        if order is not None:
            self.attempt(confirm_receipt, order, self.owner_of(order))

    @rule(i=st.integers(0, 50), kind=st.sampled_from(["refund", "return"]), part=st.integers(0, 3))
    def request_aftersales(self, i, kind, part):
        from plugins.aftersales import cases

        order = _pick(self.orders(OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED), i)
        if order is None:
            return
        lines = {line.id: line.quantity for line in order.lines}
        if OrderStatus(order.status) == OrderStatus.PAID:
            data = {"kind": "refund_unshipped", "reason": "changed_mind"}
        elif kind == "refund":
            left = sum(line.paid_amount - line.refunded_amount for line in order.lines)
            # part 0: whatever the form proposes; otherwise a share, and sometimes more than allowed.
            amount = None if part == 0 else max(1, left * part // 2)
            data = {"kind": "refund_shipped", "reason": "price_difference", "lines": lines, "amount": amount}
        else:
            data = {"kind": "return_refund", "reason": "changed_mind", "lines": lines}
        self.attempt(cases.create_case, order, self.owner_of(order), data)

    @rule(i=st.integers(0, 50))
    def buyer_posts_return(self, i):
        from plugins.aftersales import cases
        from plugins.aftersales.models import AWAITING_RETURN

        case = _pick(self.cases(AWAITING_RETURN), i)
        if case is not None:
            order = db.session.get(Order, case.order_id)
            self.attempt(cases.enter_return_tracking, case, self.owner_of(order), self.world.carrier, "RET12345")

    # -- someone else's order: always "not found", nothing written ------------------------
    @rule(i=st.integers(0, 50))
    def intruder(self, i):
        from plugins.aftersales import cases
        from storefront.orders.services import cancel_by_buyer, confirm_receipt, ship_order

        order = _pick(self.orders(), i)
        if order is None:
            return
        other = self.other_than(order)
        for fn, args in ((cancel_by_buyer, (order, other)), (confirm_receipt, (order, other)),
                         (cases.create_case, (order, other, {"kind": "refund_unshipped", "reason": "changed_mind"}))):
            with pytest.raises(NotFound):
                fn(*args)
            db.session.rollback()
        with pytest.raises(Forbidden):  # a buyer is not staff
            ship_order(order, self.owner_of(order), self.world.carrier, "TRK12345")
        db.session.rollback()

    # -- staff ----------------------------------------------------------------------------
    @rule(i=st.integers(0, 50))
    def staff_ships(self, i):
        from storefront.orders.services import ship_order

        order = _pick(self.orders(OrderStatus.PAID, pickup=False), i)
        if order is not None:
            self.attempt(ship_order, order, self.world.staff, self.world.carrier, f"TRK{order.id:08d}")

    @rule(i=st.integers(0, 50), reason=st.sampled_from(["out_of_stock", "listing_error", "duplicate_order"]))
    def staff_cancels(self, i, reason):
        from storefront.orders.services import cancel_by_seller

        order = _pick(self.orders(OrderStatus.PENDING_PAYMENT, OrderStatus.PAID), i)
        if order is not None:
            self.attempt(cancel_by_seller, order, self.world.staff, reason, "stateful test")

    @rule(i=st.integers(0, 50), partial=st.booleans())
    def staff_decides(self, i, partial):
        """Approve a request, or refund it (all or half) once it may be refunded."""
        from plugins.aftersales import actions
        from plugins.aftersales.models import OPEN_STATUSES, REQUESTED

        case = _pick(self.cases(*OPEN_STATUSES), i)
        if case is None:
            return
        if case.status == REQUESTED and case.kind != "refund_shipped":
            self.attempt(actions.approve, case, self.world.staff)
        elif case.status in actions.refundable_from(case):
            amount = max(1, int(case.amount_requested) // 2) if partial else None
            self.attempt(actions.refund, case, self.world.staff, amount)

    @rule(i=st.integers(0, 50), restock=st.booleans())
    def staff_receives_return(self, i, restock):
        from plugins.aftersales import actions
        from plugins.aftersales.models import AWAITING_RETURN, RETURNING

        # The goods come back and are inspected in one go (``receive``).
        case = _pick(self.cases(AWAITING_RETURN, RETURNING), i)
        if case is not None:
            self.attempt(actions.receive, case, self.world.staff, "restock" if restock else "no_restock")

    @rule(i=st.integers(0, 50))
    def staff_rejects(self, i):
        from plugins.aftersales import actions
        from plugins.aftersales.models import REQUESTED

        case = _pick(self.cases(REQUESTED), i)
        if case is not None:
            self.attempt(actions.reject, case, self.world.staff, "Not as claimed")

    @rule(i=st.integers(0, 50))
    def pickup_ready(self, i):
        from plugins.store_pickup import pickups

        order = _pick(self.orders(OrderStatus.PAID, pickup=True), i)
        if order is not None:
            self.attempt(pickups.mark_ready, pickups.pickup_for_order(order.id).id, self.world.staff)

    @rule(i=st.integers(0, 50), wrong=st.booleans())
    def pickup_collect(self, i, wrong):
        from plugins.store_pickup import pickups
        from plugins.store_pickup.models import READY, Pickup

        db.session.expire_all()
        ready = list(db.session.execute(select(Pickup).where(Pickup.status == READY).order_by(Pickup.id)).scalars())
        pickup = _pick(ready, i)
        if pickup is None:
            return
        code = pickup.code
        if wrong:  # a mistyped code hands nothing over
            code = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
        self.attempt(pickups.verify_code, self.world.location_id, code, self.world.staff)

    # -- time -----------------------------------------------------------------------------
    @rule(hours=st.sampled_from(HOURS))
    def time_passes(self, hours):
        from storefront.orders.sweeps import run_all_sweeps

        self.app.config[CLOCK] = int(self.app.config.get(CLOCK) or 0) + hours * 3600
        run_all_sweeps()
        db.session.commit()

    # -- after every step ----------------------------------------------------------------
    @invariant()
    def consistent(self):
        db.session.rollback()
        orders, lines, _adjustments, _events = inv.load()
        problems = (inv.core_violations(self.world.initial_stock, inv.restocked_returns())
                    + inv.presale_quotas(orders, lines) + inv.coupon_uses()
                    + inv.pickup_stock(self.world.initial_store_stock))
        db.session.rollback()
        assert not problems, "\n".join(problems)


def test_order_lifecycle_keeps_invariants(app):
    ShopMachine.app = app
    try:
        run_state_machine_as_test(ShopMachine, settings=SETTINGS)
    finally:
        app.config[CLOCK] = 0


def test_invariants_catch_a_broken_shop(app):
    """The checks can fail: a stock leak, an over-refund, a wrong total and a missing event are all reported."""
    from sqlalchemy import text

    from storefront.checkout.services import place_order

    world = build_world()
    buyer, sku = world.buyers[0], world.spot_skus[0]
    assert inv.core_violations(world.initial_stock) == []
    with app.test_request_context():
        from storefront.cart import services as carts

        login_user(buyer)
        carts.add_item(carts.get_cart(create=True, user=buyer), sku, 1)
        order = place_order(buyer, idempotency_key=world.key("broken"), address=dict(ADDRESS)).orders[0]
    db.session.commit()
    assert inv.core_violations(world.initial_stock) == []
    oid = order.id
    breakages = [
        ("UPDATE skus SET stock = stock - 1 WHERE id = :id", {"id": sku}, f"sku {sku}"),
        ("UPDATE orders SET total = total + 1 WHERE id = :id", {"id": oid}, "total"),
        ("UPDATE orders SET refunded_total = 1 WHERE id = :id", {"id": oid}, "refunded"),
        ("UPDATE order_lines SET refunded_amount = paid_amount + 1 WHERE order_id = :id", {"id": oid}, "line"),
        ("UPDATE orders SET status = 'paid' WHERE id = :id", {"id": oid}, "timeline ends at pending_payment"),
    ]
    for sql, params, expected in breakages:  # each on top of the previous ones
        db.session.execute(text(sql), params)
        db.session.commit()
        problems = inv.core_violations(world.initial_stock)
        assert any(expected in p for p in problems), (sql, problems)
    # Deleted events are a hole in the timeline.
    db.session.execute(text("DELETE FROM order_events WHERE order_id = :id"), {"id": oid})
    db.session.commit()
    assert any("'placed' events" in p for p in inv.core_violations(world.initial_stock))

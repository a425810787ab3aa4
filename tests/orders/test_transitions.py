"""The transition table, checked for every status pair, through transition() and the services."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from storefront.errors import InvalidTransition, ServiceError, TransitionVetoed
from storefront.extensions import db
from storefront.orders import services
from storefront.orders.models import OrderEvent
from storefront.orders.status import TRANSITIONS, OrderStatus
from storefront.orders.transitions import SYSTEM, transition
from storefront.plugins import hookimpl
from storefront.plugins.host import get_host

from ..factories import make_staff, make_user
from .factories import make_order

pytestmark = pytest.mark.usefixtures("request_ctx")

PAIRS = list(itertools.product(OrderStatus, OrderStatus))


def event_count(order, kind=None) -> int:
    stmt = select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order.id)
    if kind:
        stmt = stmt.where(OrderEvent.kind == kind)
    return db.session.scalar(stmt)


@pytest.mark.parametrize("current,to", PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_every_pair_through_transition(app, current, to):
    order = make_order(make_user(), current)
    if to in TRANSITIONS[current]:
        transition(order, to, actor=SYSTEM)
        db.session.commit()
        db.session.refresh(order)
        assert order.status == to
        assert event_count(order) == 1
    else:
        with pytest.raises(InvalidTransition) as info:
            transition(order, to, actor=SYSTEM)
        assert info.value.code == "invalid_transition"
        assert info.value.details == {"from": current.value, "to": to.value}
        db.session.rollback()
        db.session.refresh(order)
        assert order.status == current
        assert event_count(order) == 0


def _service_calls(buyer, staff):
    return {
        "cancel_by_buyer": (lambda o: services.cancel_by_buyer(o, buyer),
                            {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID}),
        "cancel_by_seller": (lambda o: services.cancel_by_seller(o, staff, "out_of_stock", ""),
                             {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID}),
        "ship_order": (lambda o: services.ship_order(o, staff, "ZTO", "ZT-0001"), {OrderStatus.PAID}),
        "confirm_receipt": (lambda o: services.confirm_receipt(o, buyer), {OrderStatus.SHIPPED}),
        "auto_confirm": (lambda o: services.auto_confirm(o), {OrderStatus.SHIPPED}),
        "extend_auto_confirm": (lambda o: services.extend_auto_confirm(o, staff), {OrderStatus.SHIPPED}),
        "remind_unpaid": (lambda o: services.remind_unpaid(o, staff), {OrderStatus.PENDING_PAYMENT}),
    }


SERVICE_NAMES = ["cancel_by_buyer", "cancel_by_seller", "ship_order", "confirm_receipt", "auto_confirm",
                 "extend_auto_confirm", "remind_unpaid"]


@pytest.mark.parametrize("name", SERVICE_NAMES)
@pytest.mark.parametrize("status", list(OrderStatus), ids=[s.value for s in OrderStatus])
def test_services_refuse_wrong_status(app, name, status):
    buyer, staff = make_user(), make_staff()
    call, allowed = _service_calls(buyer, staff)[name]
    order = make_order(buyer, status)
    if status in allowed:
        call(order)
        # One timeline entry for the change itself (a refund adds its own "refund" entry).
        kinds = {"extend_auto_confirm": "auto_confirm_extended", "remind_unpaid": "payment_reminder"}
        assert event_count(order, kinds.get(name, "status")) == 1
        assert event_count(order) - event_count(order, "refund") == 1
    else:
        with pytest.raises(InvalidTransition) as info:
            call(order)
        assert info.value.code in ("invalid_transition", "already_shipped")
        db.session.refresh(order)
        assert order.status == status
        assert event_count(order) == 0


class _Veto:
    @hookimpl
    def transition_guard(self, obj, to, actor):
        if to == OrderStatus.COMPLETED:
            return "open refund case"
        return None


@pytest.fixture
def veto(app):
    plugin = _Veto()
    get_host().pm.register(plugin, name="test-veto")
    try:
        yield
    finally:
        get_host().pm.unregister(plugin)


def test_guard_vetoes_confirmation(app, veto):
    buyer = make_user()
    order = make_order(buyer, OrderStatus.SHIPPED)
    with pytest.raises(TransitionVetoed) as info:
        services.confirm_receipt(order, buyer)
    assert "open refund case" in info.value.message
    assert isinstance(info.value, ServiceError)
    db.session.refresh(order)
    assert order.status == OrderStatus.SHIPPED and event_count(order) == 0


@pytest.mark.parametrize("locale,words", [("en", "An order that is Awaiting payment cannot become Shipped."),
                                          ("zh_Hans", "不能改为"), ("vi", "không thể chuyển sang")])
def test_a_refused_transition_is_told_in_the_readers_language(app, locale, words):
    from flask_babel import force_locale

    order = make_order(make_user(), OrderStatus.PENDING_PAYMENT)
    with force_locale(locale), pytest.raises(InvalidTransition) as info:
        services.ship_order(order, make_staff(), "SF Express", "SF12345678")
    assert words in info.value.message
    assert info.value.details == {"from": "pending_payment", "to": "shipped"}

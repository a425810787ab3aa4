"""The orders a confirmation pays, read in Core with their lines and adjustments: the same
objects, values and collection orders the ORM's joined eager loads with ``populate_existing``
gave, and an order the session already holds refreshed from its row."""
from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from storefront.extensions import db
from storefront.orders.models import Order, OrderAdjustment, OrderLine
from storefront.payments import services
from storefront.payments.models import Payment

from ..checkout.helpers import fresh
from .test_payments import placed


def _columns(obj) -> dict:
    return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs}


def _with_more_children(order_id: int) -> None:
    """A second line, and two adjustments written in the opposite order of their positions:
    the read's rows are lines times adjustments, and each must come back once, in order."""
    first = db.session.execute(select(OrderLine).where(OrderLine.order_id == order_id)).scalar_one()
    copy = {key: value for key, value in _columns(first).items() if key != "id"}
    db.session.add(OrderLine(**{**copy, "sku_code": "SECOND"}))
    for position in (9, 7):
        db.session.add(OrderAdjustment(order_id=order_id, position=position, kind="discount", code=f"P{position}",
                                       label=f"at {position}", source="core", amount=0))
    db.session.commit()


def test_each_order_comes_with_its_lines_and_adjustments_once_as_the_orm_loads_them(app):
    _user, reference, order_id = placed(app)
    fresh()
    _with_more_children(order_id)
    payment_id = db.session.execute(select(Payment.id).where(Payment.reference == reference)).scalar_one()
    db.session.expunge_all()
    with app.test_request_context():
        ((amount, order),) = services._payment_shares(payment_id)
        assert {"lines", "adjustments"} <= order.__dict__.keys()  # loaded: showing them costs no query
        read = (amount, _columns(order), [_columns(line) for line in order.lines],
                [_columns(adjustment) for adjustment in order.adjustments])
    db.session.expunge_all()
    expected_amount, expected = db.session.execute(
        select(services.OrderPayment.amount, Order).join(Order, Order.id == services.OrderPayment.order_id)
        .where(services.OrderPayment.payment_id == payment_id)
        .options(joinedload(Order.lines), joinedload(Order.adjustments))).unique().one()
    assert read == (expected_amount, _columns(expected), [_columns(line) for line in expected.lines],
                    [_columns(adjustment) for adjustment in expected.adjustments])
    assert len(read[2]) == 2 and [a["position"] for a in read[3]][-2:] == [7, 9]


def test_an_order_the_session_holds_is_refreshed_from_its_row(app):
    _user, reference, order_id = placed(app)
    fresh()
    payment_id = db.session.execute(select(Payment.id).where(Payment.reference == reference)).scalar_one()
    with app.test_request_context():
        held = db.session.get(Order, order_id)
        line = held.lines[0]
        paid_total, total = held.paid_total, held.total
        # As this request might have read them before the row moved on.
        set_committed_value(held, "paid_total", total + 1)
        set_committed_value(line, "quantity", 99)
        set_committed_value(held, "lines", [])
        ((_amount, order),) = services._payment_shares(payment_id)
        assert order is held and order.lines == [line]
        assert (order.paid_total, line.quantity) == (paid_total, 1)

"""Revision 0002_aftersales on a database with data: old "received" cases become inspected ones."""
from __future__ import annotations

from datetime import datetime

from alembic import command
from sqlalchemy import text

from storefront.database import upgrade_database
from storefront.extensions import db
from storefront.orders.status import OrderStatus
from tests.factories import make_user
from tests.orders.factories import make_order
from tests.test_migrations import _alembic_config, scratch_app, scratch_url  # noqa: F401 (fixtures)

RECEIVED_AT = datetime(2026, 11, 20, 8, 30)


def _old_case(order_id: int, number: str, status: str, received_at, refunded_at=None) -> None:
    db.session.execute(text(
        "INSERT INTO aftersales_cases (number, order_id, kind, status, reason, description, amount_requested, "
        "amount_refunded, currency, category, attempt, escalated, auto_approved, created_at, received_at, "
        "refunded_at) VALUES (:n, :o, 'return_refund', :s, 'quality', '', 1000, 0, 'CNY', 'back_office', 1, "
        ":f, :f, :c, :r, :rf)"),
        {"n": number, "o": order_id, "s": status, "f": False, "c": RECEIVED_AT, "r": received_at,
         "rf": refunded_at})


def test_received_cases_become_inspected_with_both_stamps(scratch_app):  # noqa: F811
    upgrade_database("heads")
    config = _alembic_config(scratch_app)
    command.downgrade(config, "0001_aftersales")
    order = make_order(make_user(), OrderStatus.SHIPPED)
    _old_case(order.id, "ASOLD1", "received", RECEIVED_AT)
    _old_case(order.id, "ASOLD2", "refunded", RECEIVED_AT, refunded_at=RECEIVED_AT)
    _old_case(order.id, "ASOLD3", "returning", None)
    db.session.commit()
    upgrade_database("heads")
    db.session.commit()
    rows = {r.number: r for r in db.session.execute(text(
        "SELECT number, status, arrived_at, inspected_at, refund_method FROM aftersales_cases")).all()}

    def stamp(value):
        return value if isinstance(value, datetime) or value is None else datetime.fromisoformat(str(value))

    assert rows["ASOLD1"].status == "inspected"
    assert stamp(rows["ASOLD1"].arrived_at) == stamp(rows["ASOLD1"].inspected_at) == RECEIVED_AT
    assert rows["ASOLD2"].status == "refunded" and rows["ASOLD2"].refund_method == "original"
    assert rows["ASOLD3"].status == "returning" and rows["ASOLD3"].arrived_at is None
    assert rows["ASOLD1"].refund_method is None
    # And back: the downgrade restores the combined status and stamp.
    db.session.commit()  # end the read transaction: the downgrade runs on its own connection
    command.downgrade(config, "0001_aftersales")
    back = {r.number: r for r in db.session.execute(text(
        "SELECT number, status, received_at FROM aftersales_cases")).all()}
    assert back["ASOLD1"].status == "received" and stamp(back["ASOLD1"].received_at) == RECEIVED_AT
    db.session.commit()
    upgrade_database("heads")

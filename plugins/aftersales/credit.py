"""Store credit: a per-buyer ledger plus one balance row per (buyer, currency).

Every movement is one ``aftersales_credit_entries`` row whose unique
idempotency key makes it exactly-once (a retry or a concurrent duplicate
inserts nothing), and one conditional ``UPDATE ... WHERE balance + :a >= 0``
on the balance row in the same transaction, so the balance never goes below
zero and always equals the sum of the entries.

At checkout the whole balance is offered as an ``Adjustment`` (order 400)
unless the buyer switched it off on the store credit page; ``order_placing``
debits what the order actually used and aborts the checkout when the balance
changed meanwhile. The credit of an order that closes (unpaid, cancelled or
fully refunded) comes back once, from ``order_event`` or the sweep.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy import inspect as sa_inspect

from storefront import joined_rows
from storefront.audit.services import record as audit
from storefront.clock import utcnow
from storefront.database import get_by_pk, write_transaction
from storefront.errors import Conflict, Forbidden, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.plugins.host import get_host
from storefront.money import MoneyError, parse_money
from storefront.orders.models import Order, OrderAdjustment
from storefront.orders.status import OrderStatus
from storefront.orders.transitions import Actor
from storefront.plugins.types import Adjustment

from .money_models import CreditBalance, CreditEntry

PLUGIN = "aftersales"
ADJUSTMENT_CODE = "aftersales_store_credit"
ADJUSTMENT_ORDER = 400
LABEL = _l("Store credit")
NOTE_MAX = 500
ADJUST_MAX = 10**9


def _settings() -> dict:
    return get_host().settings(PLUGIN)


def shop_currency() -> str:
    return current_app.config["STOREFRONT_CURRENCY"]


def _insert_ignoring_conflict(table, values: dict, conflict_cols: list[str]) -> bool:
    """INSERT that does nothing when the unique key exists (PostgreSQL and SQLite alike).

    True when the row was inserted. RETURNING tells, not rowcount: psycopg
    reports -1 for an INSERT that SQLAlchemy runs with implicit RETURNING.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    first_key = list(table.primary_key.columns)[0]
    stmt = (insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_cols)
            .returning(first_key))
    return db.session.execute(stmt).first() is not None


# -- reading ----------------------------------------------------------------------------
def balance(user_id: int, currency: str | None = None) -> int:
    value = db.session.execute(
        select(CreditBalance.balance).where(CreditBalance.user_id == user_id,
                                            CreditBalance.currency == (currency or shop_currency()))
    ).scalar()
    return int(value or 0)


def balance_row(user_id: int, currency: str | None = None) -> CreditBalance | None:
    return get_by_pk(CreditBalance, user_id, currency or shop_currency())


def uses_credit_at_checkout(user_id: int, currency: str | None = None) -> bool:
    value = db.session.execute(
        select(CreditBalance.use_at_checkout).where(CreditBalance.user_id == user_id,
                                                    CreditBalance.currency == (currency or shop_currency()))
    ).scalar()
    return True if value is None else bool(value)


def ledger(user_id: int, *, currency: str | None = None, before: int | None = None,
           limit: int = 50) -> tuple[list[CreditEntry], int | None]:
    """Newest entries first, keyset-paged by id; returns (entries, next ``before`` or None)."""
    limit = max(1, min(int(limit), 200))
    stmt = select(CreditEntry).where(CreditEntry.user_id == user_id,
                                     CreditEntry.currency == (currency or shop_currency()))
    if before is not None:
        stmt = stmt.where(CreditEntry.id < before)
    rows = list(db.session.execute(stmt.order_by(CreditEntry.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def order_credit_sums(order_id: int) -> dict[str, int]:
    """The order's store-credit entries summed per kind (checkout, checkout_return, refund),
    in one statement."""
    return {kind: int(total or 0) for kind, total in joined_rows.read(
        db.session(), _order_credit_sums_query(), {"order_id": order_id})}


@functools.cache
def _order_credit_sums_query():
    # Built once per process: every order page asks (building and keying it cost as much as running it).
    return (select(CreditEntry.kind, func.sum(CreditEntry.amount))
            .where(CreditEntry.order_id == bindparam("order_id"),
                   CreditEntry.kind.in_(("checkout", "checkout_return", "refund")))
            .group_by(CreditEntry.kind))


@dataclass(frozen=True)
class OrderCredit:
    """Store credit on one order, each figure positive."""

    spent: int     # taken at checkout, whether or not it came back
    used: int      # taken at checkout, net of what came back when the order closed
    refunded: int  # after-sales refunds paid as credit


def order_credit(order_id: int) -> OrderCredit:
    """The order page's three figures from one grouped statement."""
    sums = order_credit_sums(order_id)
    spent = -sums.get("checkout", 0)
    return OrderCredit(spent=spent, used=spent - sums.get("checkout_return", 0), refunded=sums.get("refund", 0))


def credit_used_by_order(order_id: int) -> int:
    """Store credit spent on the order (positive), net of what came back."""
    return order_credit(order_id).used


def credit_spent_by_order(order_id: int) -> int:
    """Store credit taken at checkout for the order (positive), whether or not it came back."""
    return order_credit(order_id).spent


# -- writing ----------------------------------------------------------------------------
def post(user_id: int, amount: int, kind: str, key: str, *, currency: str | None = None,
         order_id: int | None = None, case_id: int | None = None, note: str = "",
         actor: Actor | None = None) -> CreditEntry | None:
    """Add a signed ``amount`` to the buyer's credit, exactly once per ``key``.

    Joins the caller's write transaction. Returns the new entry, or ``None``
    when ``key`` was already posted. Raises Conflict ``insufficient_credit``
    when a debit would take the balance below zero; the transaction is then
    rolled back (a caller inside one must let the error end it).
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise ValidationFailed(_("Enter an amount other than zero."), field="amount")
    currency = currency or shop_currency()
    actor = actor or Actor.system("aftersales")
    now = utcnow()
    with write_transaction():
        inserted = _insert_ignoring_conflict(CreditEntry.__table__, {
            "user_id": user_id, "amount": amount, "currency": currency, "kind": kind,
            "order_id": order_id, "case_id": case_id, "note": (note or "")[:NOTE_MAX],
            "idempotency_key": key[:120], "actor_kind": actor.kind, "actor_id": actor.user_id,
            "actor_label": (actor.label or "")[:120], "created_at": now,
        }, ["idempotency_key"])
        if not inserted:
            return None
        _insert_ignoring_conflict(CreditBalance.__table__, {
            "user_id": user_id, "currency": currency, "balance": 0, "use_at_checkout": True,
            "updated_at": now}, ["user_id", "currency"])
        changed = db.session.execute(
            text("UPDATE aftersales_credit_balances SET balance = balance + :a, updated_at = :now "
                 "WHERE user_id = :u AND currency = :c AND balance + :a >= 0"),
            {"a": amount, "u": user_id, "c": currency, "now": now})
        if changed.rowcount != 1:
            raise Conflict(_("Not enough store credit."), code="insufficient_credit", field="amount")
        return db.session.execute(
            select(CreditEntry).where(CreditEntry.idempotency_key == key[:120])).scalar_one()


def set_use_at_checkout(user, on: bool) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise Forbidden(_("Sign in first."))
    currency = shop_currency()
    with write_transaction():
        _insert_ignoring_conflict(CreditBalance.__table__, {
            "user_id": user.id, "currency": currency, "balance": 0, "use_at_checkout": bool(on),
            "updated_at": utcnow()}, ["user_id", "currency"])
        db.session.execute(
            CreditBalance.__table__.update()
            .where(and_(CreditBalance.user_id == user.id, CreditBalance.currency == currency))
            .values(use_at_checkout=bool(on)))


def adjust_by_staff(staff, user_id: int, amount_text: str, note: str, key: str) -> CreditEntry:
    """A goodwill credit (or a correction, negative) given by a staff member, with a reason."""
    from storefront.accounts.models import User

    if staff is None or not getattr(staff, "is_staff", False):
        raise Forbidden(_("Staff only."))
    buyer = db.session.get(User, user_id)
    if buyer is None:
        raise NotFound(_("Buyer not found."))
    text_value = (amount_text or "").strip()
    negative = text_value.startswith("-")
    try:
        amount = parse_money(text_value.lstrip("-").strip(), shop_currency()).amount
    except MoneyError:
        raise ValidationFailed(_("Enter an amount, e.g. 10 or -5.50."), field="amount") from None
    if amount == 0 or amount > ADJUST_MAX:
        raise ValidationFailed(_("Enter an amount other than zero."), field="amount")
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Say why (the buyer sees it)."), field="note")
    if len(note) > NOTE_MAX:
        raise ValidationFailed(_("At most %(n)s characters.", n=NOTE_MAX), field="note")
    key = (key or "").strip()
    if not key or len(key) > 80:
        raise ValidationFailed(_("This form expired; reload the page and try again."), field="key")
    signed = -amount if negative else amount
    with write_transaction():
        entry = post(buyer.id, signed, "adjustment", f"adjust-{key}", note=note, actor=Actor.of(staff))
        if entry is None:  # a double submission of the same form
            entry = db.session.execute(
                select(CreditEntry).where(CreditEntry.idempotency_key == f"adjust-{key}")).scalar_one()
            if entry.user_id != buyer.id or entry.amount != signed:
                raise Conflict(_("This form was already used."), code="idempotency_conflict")
            return entry
        now_balance = balance(buyer.id, entry.currency)
        audit(staff, "aftersales.credit_adjust", buyer, before={"balance": now_balance - signed},
              after={"balance": now_balance, "amount": signed, "currency": entry.currency, "note": note})
        return entry


# -- checkout -----------------------------------------------------------------------------
def checkout_adjustment(buyer) -> Adjustment | None:
    """The whole balance offered against the goods; pricing caps it at what they still cost."""
    if buyer is None or not getattr(buyer, "is_authenticated", False):
        return None
    if not _settings().get("credit_at_checkout", True):
        return None
    row = balance_row(buyer.id)
    if row is None or row.balance <= 0 or not row.use_at_checkout:
        return None
    return Adjustment(code=ADJUSTMENT_CODE, label=str(LABEL), amount=-int(row.balance), source=PLUGIN,
                      kind="discount", order=ADJUSTMENT_ORDER)


def debit_for_order(order: Order) -> None:
    """Inside the checkout transaction: take the credit this order used, or abort the checkout."""
    if "adjustments" in sa_inspect(order).unloaded:
        used = db.session.execute(
            select(func.coalesce(func.sum(OrderAdjustment.amount), 0))
            .where(OrderAdjustment.order_id == order.id, OrderAdjustment.source == PLUGIN,
                   OrderAdjustment.code == ADJUSTMENT_CODE)
        ).scalar()
    else:  # the checkout built them a moment ago: the flushed list is what the table holds
        used = sum(a.amount for a in order.adjustments if a.source == PLUGIN and a.code == ADJUSTMENT_CODE)
    used = -int(used or 0)
    if used <= 0 or order.user_id is None:
        return
    try:
        post(order.user_id, -used, "checkout", f"checkout-{order.id}", currency=order.currency,
             order_id=order.id, note=order.number, actor=Actor("buyer", order.user_id, ""))
    except Conflict:
        raise Conflict(_("Your store credit changed meanwhile; please review your order and submit again."),
                       code="store_credit_changed") from None


def return_for_closed_order(order_id: int) -> CreditEntry | None:
    """Give back the credit of an order that closed without a sale (exactly once)."""
    # Most orders spent no credit. Reading that first keeps their close from taking the
    # write lock (SQLite's is the whole database's) only to find nothing to give back;
    # a closed order spends no more credit, and the keyed entry below stays the one door.
    if credit_used_by_order(order_id) <= 0:
        return None
    with write_transaction():
        order = db.session.get(Order, order_id, populate_existing=True)
        if order is None or order.user_id is None or OrderStatus(order.status) != OrderStatus.CLOSED:
            return None
        used = credit_used_by_order(order_id)
        if used <= 0:
            return None
        return post(order.user_id, used, "checkout_return", f"checkout-return-{order_id}",
                    currency=order.currency, order_id=order_id, note=order.number)


#: Orders close (unpaid, cancelled, fully refunded) well within this time of being placed.
RETURN_SCAN_PLACED_WITHIN = timedelta(days=90)


def closed_orders_owed_credit(now=None, limit: int = 200) -> list[int]:
    """Recent closed orders whose checkout credit has not come back (events missed while disabled)."""
    spent = CreditEntry.__table__.alias("spent")
    back = CreditEntry.__table__.alias("back")
    stmt = (
        select(spent.c.order_id)
        .join(Order, Order.id == spent.c.order_id)
        .outerjoin(back, and_(back.c.order_id == spent.c.order_id, back.c.kind == "checkout_return"))
        .where(spent.c.kind == "checkout", Order.status == OrderStatus.CLOSED, back.c.id.is_(None),
               Order.placed_at >= (now or utcnow()) - RETURN_SCAN_PLACED_WITHIN)
        .limit(limit)
    )
    return [int(i) for i in db.session.execute(stmt).scalars()]

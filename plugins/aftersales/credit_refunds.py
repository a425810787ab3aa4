"""Refunds paid as store credit instead of through the original payment.

Staff deciding a case may pay its refund into the buyer's store credit
(DOMAIN.md §3: compensation and refunds "as store credit or refund, seller's
choice"). No provider is called, so everything happens in the one write
transaction that also moves the case to ``refunded``:

1. the same caps as a money refund, by conditional UPDATE on the core's
   refund counters -- the order's ``refunded_total`` never passes its
   ``paid_total`` and a line's ``refunded_amount`` never passes its
   ``paid_amount`` -- so credit counts towards "refunded" and a later money
   refund (another case, a cancellation, compensation) cannot pay it twice;
2. one ledger entry of kind ``refund`` keyed ``aftersales-credit-<case id>``
   (exactly once even if the case's conditional move were bypassed).

Any refusal raises and rolls the whole transaction back: the case stays
where it was and nothing is half-written.
"""
from __future__ import annotations

from sqlalchemy import select, text

from storefront.errors import Conflict
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order, OrderLine
from storefront.orders.transitions import Actor

from . import credit
from .models import Case, CaseLine


def credit_key(case: Case) -> str:
    return f"aftersales-credit-{case.id}"


def line_shares(case: Case, amount: int) -> dict[int, int]:
    """``amount`` over the case's lines, each at most what the case asked for it and what it has left."""
    from .cases import split_amount

    rows = db.session.execute(
        select(CaseLine.order_line_id, CaseLine.amount, OrderLine.paid_amount, OrderLine.refunded_amount)
        .join(OrderLine, OrderLine.id == CaseLine.order_line_id).where(CaseLine.case_id == case.id)).all()
    shares = {line_id: min(int(asked), max(0, int(paid) - int(refunded or 0)))
              for line_id, asked, paid, refunded in rows}
    return {k: v for k, v in split_amount(min(amount, sum(shares.values())), shares).items() if v}


def pay_as_credit(case: Case, order: Order, amount: int, actor: Actor, lines: dict[int, int] | None = None) -> None:
    """Inside the caller's write transaction: reserve the refund caps and credit the buyer."""
    if order.user_id is None:
        raise Conflict(_("A guest order has no store credit: refund to the original payment."),
                       code="credit_needs_account", field="method")
    reserved = db.session.execute(
        text("UPDATE orders SET refunded_total = refunded_total + :a "
             "WHERE id = :id AND refunded_total + :a <= paid_total"), {"a": amount, "id": order.id})
    if reserved.rowcount != 1:
        raise Conflict(_("A refund cannot exceed what was paid for the order."),
                       code="refund_exceeds_total", field="amount")
    for line_id, share in (line_shares(case, amount) if lines is None else lines).items():
        won = db.session.execute(
            text("UPDATE order_lines SET refunded_amount = refunded_amount + :a "
                 "WHERE id = :id AND order_id = :o AND refunded_amount + :a <= paid_amount"),
            {"a": share, "id": line_id, "o": order.id})
        if won.rowcount != 1:
            raise Conflict(_("A refund cannot exceed what was paid for that item."),
                           code="refund_exceeds_line", field="amount", details={"line_id": line_id})
    credit.post(order.user_id, amount, "refund", credit_key(case), currency=order.currency, order_id=order.id,
                case_id=case.id, note=case.number, actor=actor)


def credit_refunded_on_order(order_id: int) -> int:
    """Store credit paid as after-sales refunds on the order (for the order page)."""
    return credit.order_credit(order_id).refunded

"""Refunds: money back through the payments that took it, never more than was paid.

An order may have been paid by several payments (a presale deposit and its
balance). A refund goes back through them newest first (the balance before
the deposit), never more per payment than that payment paid towards the
order: one Refund row per payment part, keyed ``<key>``, ``<key>#2``...
Every cap is a conditional UPDATE whose row count is checked: the order's
``refunded_total`` never passes its ``paid_total``, a line's
``refunded_amount`` never passes its ``paid_amount``, a payment's
``order_payments.refunded`` never passes what it paid. The provider is
called after the reservation commits; a failed call gives its part back.
"""
from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from ..database import write_transaction
from ..errors import Conflict, NotFound, ServiceError, ValidationFailed
from ..extensions import db
from ..i18n import gettext as _
from ..orders.models import Order, OrderLine
from ..orders.transitions import Actor, record_event
from ..plugins.host import get_host
from .models import OrderPayment, Payment, PaymentStatus, Refund

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{4,80}$")


class RefundFailed(ServiceError):
    code = "refund_failed"
    status = 502


def get_provider(name: str):
    provider = get_host().hook.payment_provider(name=name)
    if provider is None:
        raise NotFound(_("That payment method is not available."), code="provider_not_found")
    return provider


def refund(order: Order, amount: int, reason: str, idempotency_key: str, actor: Actor,
           lines: dict[int, int] | None = None, *, payment_id: int | None = None) -> Refund:
    """Send ``amount`` of ``order`` back through its payments' provider; idempotent by key.

    ``lines`` ({order line id: amount}) says which lines the money is for;
    its sum may be below ``amount`` (the rest is shipping). Without it the
    amount is spread over the lines in order, up to what each has left.
    ``payment_id`` restricts the refund to one payment's share (a late
    payment). Never lets ``order.refunded_total`` pass ``order.paid_total``,
    a line's ``refunded_amount`` pass its ``paid_amount``, nor a payment's
    part pass what it paid, even under concurrent calls. Returns the first
    part's Refund row (``data["parts"]`` lists every part). Raises Conflict
    (``refund_exceeds_total``, ``refund_exceeds_line``, ``not_paid``),
    ValidationFailed, or RefundFailed when the provider fails (the failed
    parts' reservations are then released and their rows marked failed).
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(_("Enter an amount above zero."), field="amount")
    lines = _clean_line_amounts(order, lines, amount)
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise ValidationFailed(_("Missing or malformed idempotency key."), field="idempotency_key")
    existing = _refund_by_key(idempotency_key, order, amount)
    if existing is not None:
        return existing
    links = _paid_links(order.id, payment_id)
    if not links:
        raise Conflict(_("This order has not been paid."), code="not_paid")
    reason = (reason or "")[:200]
    try:
        # The order as read gives only its id and currency, which never change; the amounts
        # are decided by the conditional UPDATEs below, not by what was read.
        with write_transaction(keep=(order,)):
            # First write: the row whose unique key makes a repeated call return this refund
            # (its payment and amount become the first part's below).
            row = Refund(payment_id=links[0][1], order_id=order.id, idempotency_key=idempotency_key,
                         amount=amount, currency=order.currency, reason=reason, status="pending", data={})
            db.session.add(row)
            db.session.flush()
            reserved = db.session.execute(
                text("UPDATE orders SET refunded_total = refunded_total + :a "
                     "WHERE id = :id AND refunded_total + :a <= paid_total"), {"a": amount, "id": order.id})
            if reserved.rowcount != 1:
                raise Conflict(_("A refund cannot exceed what was paid for the order."),
                               code="refund_exceeds_total", field="amount")
            if lines is None:
                lines = _spread_over_lines(order.id, amount)
            _reserve_lines(order.id, lines)
            parts = _reserve_payments(order.id, amount, payment_id)
            rows = [row]
            row.payment_id, row.amount = parts[0]
            for number, (part_payment, part_amount) in enumerate(parts[1:], start=2):
                extra = Refund(payment_id=part_payment, order_id=order.id,
                               idempotency_key=f"{idempotency_key}#{number}", amount=part_amount,
                               currency=order.currency, reason=reason, status="pending",
                               data={"part_of": idempotency_key})
                db.session.add(extra)
                rows.append(extra)
            row.data = {"lines": {str(k): v for k, v in lines.items()}, "total": amount,
                        "parts": [{"payment_id": p, "amount": a} for p, a in parts]}
            db.session.flush()
            record_event(order, "refund", actor=actor, reason=reason,
                         data={"amount": amount, "refund_key": idempotency_key})
    except IntegrityError:
        db.session.rollback()
        existing = _refund_by_key(idempotency_key, order, amount)
        if existing is None:  # pragma: no cover - only the key is unique here
            raise
        return existing
    plan = [(r.id, r.payment_id, r.amount, r.idempotency_key) for r in rows]
    first_id = plan[0][0]
    _send(order.id, plan, lines)
    db.session.expire_all()
    return db.session.get(Refund, first_id)


def _send(order_id: int, plan: list[tuple[int, int, int, str]], lines: dict[int, int]) -> None:
    """Call the provider for each part, outside any transaction; a failure releases the rest."""
    for index, (refund_id, payment_id, amount, key) in enumerate(plan):
        payment = db.session.get(Payment, payment_id)
        try:
            provider_ref = get_provider(payment.provider).refund(payment, amount, key)
        except Exception as exc:  # any provider failure releases what was not sent
            current_app.logger.exception("provider refund failed")
            _release(order_id, plan[index:], lines, sum(part[2] for part in plan[index:]))
            if index == 0:
                raise RefundFailed(_("The payment provider refused the refund; nothing was refunded.")) from exc
            from ..i18n import format_money

            raise RefundFailed(_("The payment provider refused part of the refund; only %(n)s was refunded.",
                                 n=format_money(sum(part[2] for part in plan[:index]))),
                               details={"refunded": sum(part[2] for part in plan[:index])}) from exc
        with write_transaction():
            db.session.execute(update(Refund).where(Refund.id == refund_id)
                               .values(status="succeeded", provider_ref=str(provider_ref)[:120]))


def _release(order_id: int, failed: list[tuple[int, int, int, str]], lines: dict[int, int], total: int) -> None:
    # Rows in the order refund() takes them -- the order, its lines, its payments: a refund
    # reserving meanwhile would otherwise hold the order row and wait for a payment row this
    # holds, and PostgreSQL would abort one of the two with a deadlock.
    with write_transaction():
        db.session.execute(text("UPDATE orders SET refunded_total = refunded_total - :a WHERE id = :id"),
                           {"a": total, "id": order_id})
        # The lines get back what was not sent, last lines first (the reverse of the spread).
        left = total
        for line_id, share in reversed(list((lines or {}).items())):
            back = min(left, share)
            if back <= 0:
                break
            db.session.execute(text("UPDATE order_lines SET refunded_amount = refunded_amount - :a "
                                    "WHERE id = :id"), {"a": back, "id": line_id})
            left -= back
        for refund_id, payment_id, amount, _key in failed:
            db.session.execute(text("UPDATE order_payments SET refunded = refunded - :a "
                                    "WHERE order_id = :o AND payment_id = :p"),
                               {"a": amount, "o": order_id, "p": payment_id})
            db.session.execute(update(Refund).where(Refund.id == refund_id).values(status="failed"))


def _paid_links(order_id: int, payment_id: int | None) -> list[tuple[int, int, int, int]]:
    """(link id, payment id, amount, refunded) of the order's paid payments, newest first."""
    stmt = (select(OrderPayment.id, OrderPayment.payment_id, OrderPayment.amount, OrderPayment.refunded)
            .join(Payment, Payment.id == OrderPayment.payment_id)
            .where(OrderPayment.order_id == order_id, Payment.status == PaymentStatus.PAID)
            .order_by(OrderPayment.id.desc()))
    if payment_id is not None:
        stmt = stmt.where(OrderPayment.payment_id == payment_id)
    return [tuple(r) for r in db.session.execute(stmt).all()]


def _reserve_payments(order_id: int, amount: int, payment_id: int | None) -> list[tuple[int, int]]:
    """Take ``amount`` from the order's payments, newest first; each capped at what it paid."""
    parts: list[tuple[int, int]] = []
    left = amount
    # Read after the orders UPDATE above: that row lock orders concurrent refunds of this order.
    for link_id, link_payment, paid, refunded in _paid_links(order_id, payment_id):
        take = min(left, int(paid) - int(refunded or 0))
        if take <= 0:
            continue
        won = db.session.execute(
            text("UPDATE order_payments SET refunded = refunded + :a WHERE id = :id AND refunded + :a <= amount"),
            {"a": take, "id": link_id}).rowcount
        if won != 1:  # pragma: no cover - serialised by the order row lock
            raise Conflict(_("The order changed meanwhile. Reload and try again."), code="concurrent_update")
        parts.append((link_payment, take))
        left -= take
        if left == 0:
            return parts
    raise Conflict(_("A refund cannot exceed what was paid for the order."),
                   code="refund_exceeds_total", field="amount")


def _clean_line_amounts(order: Order, lines, amount: int) -> dict[int, int] | None:
    if lines is None:
        return None
    if not isinstance(lines, dict):
        raise ValidationFailed(_("Choose the lines to refund."), field="lines")
    own = {line.id for line in order.lines}
    cleaned: dict[int, int] = {}
    for key, value in lines.items():
        try:
            line_id = int(key)
        except (TypeError, ValueError):
            raise ValidationFailed(_("Choose the lines to refund."), field="lines") from None
        if line_id not in own:
            raise ValidationFailed(_("That line is not part of this order."), field="lines")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationFailed(_("Enter an amount above zero."), field="lines")
        if value:
            cleaned[line_id] = cleaned.get(line_id, 0) + value
    if sum(cleaned.values()) > amount:
        raise ValidationFailed(_("The line amounts add up to more than the refund."), field="lines")
    return cleaned


def _spread_over_lines(order_id: int, amount: int) -> dict[int, int]:
    rows = db.session.execute(
        select(OrderLine.id, OrderLine.paid_amount, OrderLine.refunded_amount)
        .where(OrderLine.order_id == order_id).order_by(OrderLine.id)).all()
    spread: dict[int, int] = {}
    for line_id, paid, refunded in rows:
        share = min(amount, max(0, int(paid) - int(refunded or 0)))
        if share:
            spread[line_id] = share
            amount -= share
    return spread


def _reserve_lines(order_id: int, lines: dict[int, int]) -> None:
    for line_id, share in lines.items():
        reserved = db.session.execute(
            text("UPDATE order_lines SET refunded_amount = refunded_amount + :a "
                 "WHERE id = :id AND order_id = :o AND refunded_amount + :a <= paid_amount"),
            {"a": share, "id": line_id, "o": order_id})
        if reserved.rowcount != 1:
            raise Conflict(_("A refund cannot exceed what was paid for that item."),
                           code="refund_exceeds_line", field="amount", details={"line_id": line_id})


def _refund_by_key(key: str, order: Order, amount: int) -> Refund | None:
    row = db.session.execute(select(Refund).where(Refund.idempotency_key == key)).scalar_one_or_none()
    if row is not None and (row.order_id != order.id or int((row.data or {}).get("total", row.amount)) != amount):
        raise Conflict(_("That refund key was already used for another refund."), code="idempotency_conflict")
    return row

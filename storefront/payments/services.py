"""Payments: confirm (idempotent by provider reference), record failures, refund.

Refunds reserve the amount first (a conditional UPDATE of
``orders.refunded_total`` that can never pass ``total``, plus a Refund row
whose idempotency key is unique), then call the provider outside any
transaction, then record the outcome; a failed provider call gives the
reservation back. So concurrent refunds can never exceed what was paid.
"""
from __future__ import annotations

import re

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from ..clock import utcnow
from ..database import write_transaction
from ..errors import ConcurrentUpdate, Conflict, NotFound, ServiceError, ValidationFailed
from ..extensions import db
from ..notify.services import queue_order_notification
from ..orders.models import Order
from ..orders.status import OrderStatus
from ..orders.transitions import SYSTEM, Actor, record_event, transition
from ..plugins.host import get_host
from .models import Payment, PaymentStatus, Refund

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{4,80}$")


class RefundFailed(ServiceError):
    code = "refund_failed"
    status = 502


def get_provider(name: str):
    provider = get_host().hook.payment_provider(name=name)
    if provider is None:
        raise NotFound(_("That payment method is not available."), code="provider_not_found")
    return provider


def payment_for_buyer(user, reference: str) -> Payment:
    """The buyer's own payment; another buyer's answers 404 as if it did not exist."""
    payment = db.session.execute(select(Payment).where(Payment.reference == str(reference)[:40])
                                 ).scalar_one_or_none()
    if payment is None or user is None or payment.user_id != user.id:
        raise NotFound(_("We could not find that payment."))
    return payment


def start_payment(payment: Payment) -> str:
    """The URL where the buyer pays ``payment`` (the provider's page)."""
    return get_provider(payment.provider).start(payment)


def record_failure(payment: Payment, message: str = "") -> Payment:
    """A failed attempt: the payment stays pending so the buyer can try again before the deadline."""
    with write_transaction():
        data = dict(payment.data or {})
        data["failures"] = int(data.get("failures", 0)) + 1
        data["last_failure"] = {"at": utcnow().isoformat(), "message": message[:200]}
        payment.data = data
    return payment


def confirm_payment(provider_ref: str, amount: int, *, payment_reference: str, provider_name: str | None = None,
                    actor: Actor = SYSTEM) -> Payment:
    """Mark a payment paid and its pending orders paid; idempotent by ``provider_ref``.

    A second call with the same ``provider_ref`` changes nothing and returns
    the same payment. An order that closed meanwhile (timed out) is not
    reopened: the payment records ``needs_refund`` and that order's amount
    is refunded through the provider, with a timeline event.
    """
    provider_ref = (provider_ref or "").strip()
    if not provider_ref or len(provider_ref) > 120:
        raise ValidationFailed(_("Missing provider reference."), field="provider_ref")
    done = db.session.execute(select(Payment).where(Payment.provider_ref == provider_ref)).scalar_one_or_none()
    if done is not None:
        if done.reference != payment_reference:
            raise Conflict(_("That provider reference belongs to another payment."), code="provider_ref_conflict")
        return done
    payment = db.session.execute(select(Payment).where(Payment.reference == str(payment_reference)[:40])
                                 ).scalar_one_or_none()
    if payment is None:
        raise NotFound(_("We could not find that payment."))
    if provider_name is not None and payment.provider != provider_name:
        raise Conflict(_("That payment belongs to another provider."), code="provider_mismatch")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount != payment.amount:
        raise ValidationFailed(_("The paid amount does not match the payment."), code="amount_mismatch",
                               field="amount", details={"expected": payment.amount})
    late: list[tuple[int, int]] = []
    try:
        with write_transaction():
            paid_at = utcnow()
            claimed = db.session.execute(
                update(Payment).where(Payment.id == payment.id, Payment.status == PaymentStatus.PENDING)
                .values(status=PaymentStatus.PAID, provider_ref=provider_ref, paid_at=paid_at)
                .execution_options(synchronize_session=False))
            if claimed.rowcount == 1:
                late = _pay_orders(payment, paid_at, actor)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("That provider reference belongs to another payment."),
                       code="provider_ref_conflict") from None
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    if payment.provider_ref != provider_ref:
        raise Conflict(_("This payment was already paid."), code="already_paid")
    for order_id, due in late:
        _refund_late(payment, order_id, due)
    return payment


def _pay_orders(payment: Payment, paid_at, actor: Actor) -> list[tuple[int, int]]:
    host = get_host()
    late: list[tuple[int, int]] = []
    orders = db.session.execute(select(Order).where(Order.payment_id == payment.id).order_by(Order.id)).scalars()
    for order in orders:
        if order.status == OrderStatus.PENDING_PAYMENT:
            ship_by = host.hook.ship_promise(order=order, paid_at=paid_at)
            try:
                transition(order, OrderStatus.PAID, actor=actor, reason=_("Payment received"),
                           values={"ship_by": ship_by})
                queue_order_notification(order, "order_paid")
                continue
            except ConcurrentUpdate:
                pass  # closed by the sweep at this very moment: handled as closed below
        if order.status == OrderStatus.CLOSED:
            due = order.total - (order.refunded_total or 0)
            late.append((order.id, due))
            record_event(order, "payment_after_close", actor=actor, source="core",
                         reason=_("Payment arrived after the order closed; it will be refunded."),
                         data={"payment": payment.reference, "amount": due})
    if late:
        data = dict(payment.data or {})
        data["needs_refund"] = [{"order_id": oid, "amount": due, "refund_id": None} for oid, due in late]
        db.session.execute(update(Payment).where(Payment.id == payment.id).values(data=data)
                           .execution_options(synchronize_session=False))
    return late


def _refund_late(payment: Payment, order_id: int, due: int) -> None:
    """Refund a closed order's share of a late payment; failures stay recorded for staff."""
    if due <= 0:
        return
    order = db.session.get(Order, order_id)
    try:
        made = refund(order, due, _("Paid after the order closed"), f"late-{payment.id}-{order_id}", SYSTEM)
    except ServiceError:
        current_app.logger.exception("refund of late payment %s failed", payment.reference)
        return
    with write_transaction():
        fresh = db.session.get(Payment, payment.id)
        data = dict(fresh.data or {})
        data["needs_refund"] = [dict(item, refund_id=made.id) if item.get("order_id") == order_id else item
                                for item in data.get("needs_refund", [])]
        fresh.data = data


def refund(order: Order, amount: int, reason: str, idempotency_key: str, actor: Actor) -> Refund:
    """Send ``amount`` of ``order`` back through its payment's provider; idempotent by key.

    Never lets ``order.refunded_total`` pass ``order.total``, even under
    concurrent calls. Raises Conflict (``refund_exceeds_total``,
    ``not_paid``), ValidationFailed, or RefundFailed when the provider fails
    (the reservation is then released and the Refund row marked failed).
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(_("Enter an amount above zero."), field="amount")
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise ValidationFailed(_("Missing or malformed idempotency key."), field="idempotency_key")
    existing = _refund_by_key(idempotency_key, order, amount)
    if existing is not None:
        return existing
    payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
    if payment is None or payment.status != PaymentStatus.PAID:
        raise Conflict(_("This order has not been paid."), code="not_paid")
    reason = (reason or "")[:200]
    try:
        with write_transaction():
            row = Refund(payment_id=payment.id, order_id=order.id, idempotency_key=idempotency_key,
                         amount=amount, currency=order.currency, reason=reason, status="pending", data={})
            db.session.add(row)
            db.session.flush()
            reserved = db.session.execute(
                text("UPDATE orders SET refunded_total = refunded_total + :a "
                     "WHERE id = :id AND refunded_total + :a <= total"), {"a": amount, "id": order.id})
            if reserved.rowcount != 1:
                raise Conflict(_("A refund cannot exceed what was paid for the order."),
                               code="refund_exceeds_total", field="amount")
            record_event(order, "refund", actor=actor, reason=reason,
                         data={"amount": amount, "refund_key": idempotency_key})
    except IntegrityError:
        db.session.rollback()
        existing = _refund_by_key(idempotency_key, order, amount)
        if existing is None:  # pragma: no cover - only the key is unique here
            raise
        return existing
    refund_id = row.id
    provider = get_provider(payment.provider)
    try:
        provider_ref = provider.refund(payment, amount, idempotency_key)
    except Exception as exc:  # any provider failure releases the reservation
        current_app.logger.exception("provider refund failed")
        with write_transaction():
            db.session.execute(update(Refund).where(Refund.id == refund_id).values(status="failed"))
            db.session.execute(text("UPDATE orders SET refunded_total = refunded_total - :a WHERE id = :id"),
                               {"a": amount, "id": order.id})
        raise RefundFailed(_("The payment provider refused the refund; nothing was refunded.")) from exc
    with write_transaction():
        db.session.execute(update(Refund).where(Refund.id == refund_id)
                           .values(status="succeeded", provider_ref=str(provider_ref)[:120]))
    db.session.expire_all()
    return db.session.get(Refund, refund_id)


def _refund_by_key(key: str, order: Order, amount: int) -> Refund | None:
    row = db.session.execute(select(Refund).where(Refund.idempotency_key == key)).scalar_one_or_none()
    if row is not None and (row.order_id != order.id or row.amount != amount):
        raise Conflict(_("That refund key was already used for another refund."), code="idempotency_conflict")
    return row

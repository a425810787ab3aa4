"""Payments: start, confirm (idempotent by provider reference), record failures, refund.

A payment pays towards one or more orders through ``order_payments`` rows
(a checkout: one row per order with its due; a balance payment: one row for
one order). Confirming a payment adds each row's amount to the order's
``paid_total``; the order becomes paid when that reaches its total.

Refunds (:mod:`.refunds`) reserve the amount first (conditional UPDATEs of
``orders.refunded_total``, the lines and the payments' rows, plus Refund
rows whose idempotency keys are unique), then call the provider outside any
transaction, then record the outcome; a failed provider call gives the
reservation back. So concurrent refunds can never exceed what was paid.
"""
from __future__ import annotations

import functools
import re
import secrets

from flask import current_app
from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ..accounts.models import User
from ..clock import utcnow
from .. import joined_rows
from ..database import for_update, keep_after_commit, loaded_id, write_transaction
from ..errors import Conflict, NotFound, ServiceError, ValidationFailed
from ..extensions import db
from ..i18n import gettext as _
from ..notify.services import add_prepared_message, prepare_order_notification
from ..orders.models import Order, OrderAdjustment, OrderLine
from ..orders.status import OrderStatus
from ..orders.transitions import SYSTEM, Actor, record_event, transition
from ..plugins.host import get_host
from .models import OrderPayment, Payment, PaymentStatus
# Re-exported: callers import every payment use case from here.
from .refunds import RefundFailed, get_provider, refund  # noqa: F401

_PAYMENT_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")


def payment_for_buyer(user, reference: str) -> Payment:
    """The buyer's own payment; another buyer's answers 404 as if it did not exist."""
    payment = joined_rows.one_or_none(_payment_by_reference_query(), {"reference": str(reference)[:40]})
    if payment is None or user is None or payment.user_id != user.id:
        raise NotFound(_("We could not find that payment."))
    return payment


def start_payment(payment: Payment) -> str:
    """The URL where the buyer pays ``payment`` (the provider's page)."""
    return get_provider(payment.provider).start(payment)


def start_order_payment(order: Order, amount: int, user, idempotency_key: str, provider: str = "test") -> Payment:
    """A further payment towards one order (a presale balance); idempotent by key.

    Only the order's buyer (anyone else: NotFound), only a pending-payment
    order (Conflict ``not_pending``), and ``amount`` must be above zero and
    at most what the order still lacks (the caller says what is due; a
    plugin that deducts a deposit value has already lowered the total).
    The same key again returns the same payment; send the buyer to
    :func:`start_payment`.
    """
    if user is None or not getattr(user, "is_authenticated", False) or order.user_id != user.id:
        raise NotFound(_("Order not found."))
    if not isinstance(idempotency_key, str) or not _PAYMENT_KEY.match(idempotency_key.strip()):
        raise ValidationFailed(_("This form expired; reload the page and try again."), field="idempotency_key")
    key = idempotency_key.strip()
    existing = _order_payment_by_key(key, order, amount, user)
    if existing is not None:
        return existing
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(_("Enter an amount above zero."), field="amount")
    get_provider(provider)
    try:
        with write_transaction():
            db.session.refresh(order)
            if OrderStatus(order.status) != OrderStatus.PENDING_PAYMENT:
                raise Conflict(_("This order is not waiting for a payment."), code="not_pending")
            still_due = int(order.total) - int(order.paid_total or 0)
            if amount > still_due:
                raise ValidationFailed(_("That is more than the order still lacks."), code="amount_mismatch",
                                       field="amount", details={"expected": still_due})
            now = utcnow()
            payment = Payment(reference=secrets.token_hex(12), idempotency_key=key, user_id=user.id,
                              provider=provider, status=PaymentStatus.PENDING, amount=amount,
                              currency=order.currency, created_at=now,
                              data={"order_id": order.id, "kind": "order_payment"})
            db.session.add(payment)
            db.session.flush()
            db.session.add(OrderPayment(order_id=order.id, payment_id=payment.id, amount=amount, created_at=now))
    except IntegrityError:
        db.session.rollback()
        existing = _order_payment_by_key(key, order, amount, user)
        if existing is None:  # pragma: no cover - only the key is unique here
            raise
        return existing
    return payment


def _order_payment_by_key(key: str, order: Order, amount, user) -> Payment | None:
    payment = db.session.execute(select(Payment).where(Payment.idempotency_key == key)).scalar_one_or_none()
    if payment is None:
        return None
    link = db.session.execute(select(OrderPayment).where(OrderPayment.payment_id == payment.id,
                                                         OrderPayment.order_id == order.id)).scalar_one_or_none()
    if payment.user_id != user.id or link is None or payment.amount != amount:
        raise Conflict(_("This payment key was already used."), code="idempotency_conflict")
    return payment


def record_failure(payment: Payment, message: str = "") -> Payment:
    """A failed attempt: the payment stays pending so the buyer can try again before the deadline.

    Only a pending payment records it. A payment confirmed meanwhile (a
    provider may report a declined attempt after a later one succeeded) is
    returned as it now is, unchanged: its ``data`` may hold the
    ``needs_refund`` marker of a payment that arrived after its order
    closed, which the owed-refunds sweep relies on.
    """
    payment_id = loaded_id(payment)
    with write_transaction():
        # The JSON is written back whole, so it is read locked: a confirmation
        # committing between a plain read and the write would lose its needs_refund marker.
        current = db.session.execute(for_update(select(Payment).where(Payment.id == payment_id))).scalar_one()
        data = dict(current.data or {})
        data["failures"] = int(data.get("failures", 0)) + 1
        data["last_failure"] = {"at": utcnow().isoformat(), "message": message[:200]}
        recorded = db.session.execute(
            update(Payment).where(Payment.id == payment_id, Payment.status == PaymentStatus.PENDING)
            .values(data=data).execution_options(synchronize_session=False)).rowcount
        if recorded == 1:
            set_committed_value(current, "data", data)
        # Read under the lock and mirrored: exactly the row as committed.
        keep_after_commit(current)
    return current


def confirm_payment(provider_ref: str, amount: int, *, payment_reference: str, provider_name: str | None = None,
                    actor: Actor = SYSTEM, payment: Payment | None = None) -> Payment:
    """Mark a payment paid and apply it to its orders; idempotent by ``provider_ref``.

    A second call with the same ``provider_ref`` changes nothing and returns
    the same payment. Each order the payment pays towards receives its
    share (``paid_total``); it becomes paid when that reaches its total,
    otherwise a ``part_paid`` event is recorded and it stays pending. An
    order that closed meanwhile (timed out) is not reopened: the payment
    records ``needs_refund`` and that order's share is refunded through the
    provider, with a timeline event.

    ``payment`` is the Payment named by ``payment_reference`` when the caller
    has already loaded it (e.g. to check its owner), saving the lookup.
    """
    provider_ref = (provider_ref or "").strip()
    if not provider_ref or len(provider_ref) > 120:
        raise ValidationFailed(_("Missing provider reference."), field="provider_ref")
    reference = str(payment_reference)[:40]
    if payment is not None and payment.reference != reference:
        payment = None
    if payment is not None and payment.provider_ref == provider_ref:
        return payment  # confirmed before with this very reference
    if payment is not None and payment.provider_ref is None:
        # Pending: the provider reference is unique, so the claim below
        # fails (IntegrityError) if another payment already has it.
        rows = []
    else:
        # One round trip for both: the payment already confirmed with this
        # provider reference (idempotency) and the payment to confirm.
        wanted = Payment.provider_ref == provider_ref
        if payment is None:
            wanted = or_(wanted, Payment.reference == reference)
        rows = db.session.execute(select(Payment).where(wanted)).scalars().all()
    done = next((row for row in rows if row.provider_ref == provider_ref), None)
    if done is not None:
        if done.reference != payment_reference:
            raise Conflict(_("That provider reference belongs to another payment."), code="provider_ref_conflict")
        return done
    if payment is None:
        payment = next((row for row in rows if row.reference == reference), None)
    if payment is None:
        raise NotFound(_("We could not find that payment."))
    if provider_name is not None and payment.provider != provider_name:
        raise Conflict(_("That payment belongs to another provider."), code="provider_mismatch")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount != payment.amount:
        raise ValidationFailed(_("The paid amount does not match the payment."), code="amount_mismatch",
                               field="amount", details={"expected": payment.amount})
    # Read before the transaction: its opening commit expires the object.
    payment_id, reference = payment.id, payment.reference
    late: list[tuple[int, int]] = []
    won = None
    # The payment is kept as read: the claim below is what decides, and it is
    # mirrored on the object once won. So is the payer as signed in, whose
    # e-mail and locale the notification copies.
    payer = db.session.identity_map.get(identity_key(User, payment.user_id)) if payment.user_id else None
    # Read before the write lock, which every other writer waits for: the orders this
    # payment pays (with what the "paid" notification shows) and the plugin states the
    # hooks below need. What a concurrent change can move (status, paid_total) is
    # decided and returned by the conditional UPDATE inside; the rest of a pending
    # order (number, lines, adjustments, shares) is fixed when it is placed.
    shares = _payment_shares(payment_id)
    read_orders = [order for _amount, order in shares]
    get_host().snapshot()
    # When the confirmation arrived; also what each order's ship-by promise counts from.
    paid_at = utcnow()
    ready = _prepare_paid(shares, paid_at)
    try:
        with write_transaction(keep=(payment, payer, *read_orders, *_loaded_children(read_orders))):
            # RETURNING: the claim locks the row, so the data it returns is what
            # the needs_refund marker must be added to; the copy read before this
            # transaction may miss a failure recorded since (and would erase it).
            won = joined_rows.run(db.session(), _claim_query(), {
                "payment_id": payment_id, "pending": PaymentStatus.PENDING, "paid": PaymentStatus.PAID,
                "provider_ref": provider_ref, "paid_at": paid_at}).first()
            if won is not None:
                data = won.data
                late, orders = _pay_orders(payment_id, shares, reference, data, paid_at, actor, ready)
                for key, value in (("status", PaymentStatus.PAID), ("provider_ref", provider_ref),
                                   ("paid_at", paid_at), ("orders", orders),
                                   ("data", _needs_refund(data, late) if late else data)):
                    set_committed_value(payment, key, value)
                keep_after_commit(payment, *orders, *_loaded_children(orders))
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("That provider reference belongs to another payment."),
                       code="provider_ref_conflict") from None
    if won is None:
        # Someone else confirmed it meanwhile: with this reference (a retry) or another one.
        db.session.expire(payment)
        if payment.provider_ref != provider_ref:
            raise Conflict(_("This payment was already paid."), code="already_paid")
    for order_id, due in late:
        _refund_late(payment, order_id, due)
    return payment


def _payment_shares(payment_id: int) -> list[tuple[int, Order]]:
    """(amount, order) for each order the payment pays towards, with the orders' lines and
    adjustments (the "paid" notification shows them), in one round trip.

    Read in Core and built as loaded rows (:mod:`storefront.joined_rows`): the ORM's
    joined eager loading of the two collections cost more than the query. An order the
    session already holds is refreshed from the row, as ``populate_existing`` did: what
    the payment decides ahead (which orders it completes) must see them as they are now.
    """
    session = db.session()
    rows = joined_rows.read(session, _payment_shares_query(), {"payment_id": payment_id})
    shares: list[tuple[int, Order]] = []
    children: dict[int, tuple[dict, dict]] = {}
    for row in rows:
        order, line, adjustment = _SHARE_ROWS.objects(session, row[1:], refresh=True)
        if order.id not in children:
            shares.append((row[0], order))
            children[order.id] = ({}, {})
        lines, adjustments = children[order.id]
        # Lines times adjustments: each comes back once per row of the other.
        if line is not None:
            lines.setdefault(line.id, line)
        if adjustment is not None:
            adjustments.setdefault(adjustment.id, adjustment)
    for _amount, order in shares:
        lines, adjustments = children[order.id]
        set_committed_value(order, "lines", list(lines.values()))
        set_committed_value(order, "adjustments", list(adjustments.values()))
    return shares


# The payment path's statements, built once, on first use (when every mapper is
# configured): building the claim and the shares query cost about 100 µs each, the
# claim's inside the write lock.
_APPLY_TO_ORDER = text("UPDATE orders SET paid_total = paid_total + :a "
                       "WHERE id = :id AND status = :pending AND paid_total + :a <= total "
                       "RETURNING paid_total, total, status")


@functools.cache
def _payment_by_reference_query():
    return select(Payment).where(Payment.reference == bindparam("reference"))


@functools.cache
def _claim_query():
    return (update(Payment).where(Payment.id == bindparam("payment_id"), Payment.status == bindparam("pending"))
            .values(status=bindparam("paid"), provider_ref=bindparam("provider_ref"), paid_at=bindparam("paid_at"))
            .returning(Payment.data).execution_options(synchronize_session=False))


_SHARE_ROWS = joined_rows.JoinedEntities(Order, OrderLine, OrderAdjustment)


@functools.cache
def _payment_shares_query():
    # A row per (order, line, adjustment): an order has a few of each. In the collections'
    # own orders (Order.lines by id, Order.adjustments by position).
    link, order, line, adjustment = (model.__table__ for model in (OrderPayment, Order, OrderLine, OrderAdjustment))
    return (select(link.c.amount, *_SHARE_ROWS.columns)
            .select_from(link.join(order, order.c.id == link.c.order_id)
                         .outerjoin(line, line.c.order_id == order.c.id)
                         .outerjoin(adjustment, adjustment.c.order_id == order.c.id))
            .where(link.c.payment_id == bindparam("payment_id"))
            .order_by(link.c.order_id, line.c.id, adjustment.c.position, adjustment.c.id))


def _prepare_paid(rows: list[tuple[int, Order]], paid_at) -> dict[int, tuple]:
    """For each order this payment completes as read (``rows``: :func:`_payment_shares`),
    its ship-by deadline and its "paid" notification as they will be once it is paid.

    Computed before the write lock, which every other writer waits for
    (rendering the notification is most of a payment's work). What they
    depend on is fixed once an order is placed: its lines and adjustments,
    and a presale's promise. Inside, an order that did become paid uses them;
    any other outcome is decided and written there as before.
    """
    return {order.id: _paid_parts(order, paid_at) for amount, order in rows
            if OrderStatus(order.status) == OrderStatus.PENDING_PAYMENT and amount > 0
            and order.paid_total + amount == order.total}


def _paid_parts(order: Order, paid_at) -> tuple:
    """(ship-by deadline, "paid" notification) of ``order`` once paid at ``paid_at``."""
    ship_by = get_host().hook.ship_promise(order=order, paid_at=paid_at)
    return ship_by, prepare_order_notification(order, "order_paid", showing={
        "status": OrderStatus.PAID, "paid_total": order.total, "ship_by": ship_by, "paid_at": paid_at})


def _pay_orders(payment_id: int, rows: list[tuple[int, Order]], reference: str, payment_data, paid_at,
                actor: Actor, ready: dict[int, tuple]) -> tuple[list[tuple[int, int]], list[Order]]:
    """Apply a just-claimed payment to its orders (``rows``: :func:`_payment_shares`);
    ``payment_data`` is its ``data`` as the claim returned it, ``ready`` what
    :func:`_prepare_paid` rendered ahead."""
    late: list[tuple[int, int]] = []
    for amount, order in rows:
        if order.id in ready:
            # Foreseen to complete the order: its share and its status in one UPDATE, which
            # also checks the share still completes it (else the general way below).
            ship_by, message = ready[order.id]
            if transition(order, OrderStatus.PAID, actor=actor, reason=_("Payment received"),
                          values={"ship_by": ship_by}, paying=amount) is not None:
                add_prepared_message(message)
                continue
        # Money counts towards a pending order only; the status condition makes
        # a concurrent close and this payment exclude each other. RETURNING
        # gives the row as written, so the order needs no reload.
        applied = db.session.execute(_APPLY_TO_ORDER, {"a": amount, "id": order.id,
                                                       "pending": OrderStatus.PENDING_PAYMENT.value}).first()
        if applied is not None:
            _mirror(order, applied)
            if order.paid_total >= order.total:
                # The UPDATE above holds the row, so this conditional transition wins.
                # Reached only when the read was wrong (an order only leaves pending):
                # then rendered here.
                ship_by, message = _paid_parts(order, paid_at)
                transition(order, OrderStatus.PAID, actor=actor, reason=_("Payment received"),
                           values={"ship_by": ship_by})
                add_prepared_message(message)
                continue
            record_event(order, "part_paid", actor=actor, source="core",
                         data={"amount": amount, "payment": reference,
                               "paid_total": order.paid_total, "total": order.total})
            continue
        # Received but not needed (the order closed, or was paid meanwhile):
        # count it as received so the refund of exactly this share is allowed.
        _mirror(order, db.session.execute(
            text("UPDATE orders SET paid_total = paid_total + :a WHERE id = :id "
                 "RETURNING paid_total, total, status"), {"a": amount, "id": order.id}).one())
        if amount > 0:
            late.append((order.id, amount))
        closed = OrderStatus(order.status) == OrderStatus.CLOSED
        record_event(order, "payment_after_close" if closed else "payment_not_needed", actor=actor, source="core",
                     reason=_("Payment arrived after the order closed; it will be refunded.") if closed
                     else _("Payment arrived for an order that no longer needed it; it will be refunded."),
                     data={"payment": reference, "amount": amount})
    if late:
        db.session.execute(update(Payment).where(Payment.id == payment_id)
                           .values(data=_needs_refund(payment_data, late))
                           .execution_options(synchronize_session=False))
    return late, [order for _amount, order in rows]


def _needs_refund(payment_data, late: list[tuple[int, int]]) -> dict:
    data = dict(payment_data or {})
    data["needs_refund"] = [{"order_id": oid, "amount": due, "refund_id": None} for oid, due in late]
    return data


def _loaded_children(orders: list[Order]) -> list:
    """The lines and adjustments already loaded in this transaction (fresh, unchanged since)."""
    return [child for order in orders for key in ("lines", "adjustments") if key in order.__dict__
            for child in order.__dict__[key]]


def _mirror(order: Order, row) -> None:
    """Put the columns an UPDATE ... RETURNING gave back on the order without making it dirty."""
    set_committed_value(order, "paid_total", row.paid_total)
    set_committed_value(order, "total", row.total)
    set_committed_value(order, "status", OrderStatus(row.status))


def _refund_late(payment: Payment, order_id: int, due: int) -> None:
    """Refund a closed order's share of a late payment; failures stay recorded for staff."""
    if due <= 0:
        return
    payment_id = loaded_id(payment)
    order = db.session.get(Order, order_id)
    try:
        made = refund(order, due, _("Paid after the order closed"), f"late-{payment_id}-{order_id}", SYSTEM,
                      payment_id=payment_id)
    except ServiceError:
        current_app.logger.exception("refund of late payment %s failed", payment.reference)
        return
    with write_transaction():
        # Written back whole: locked, or a failure recorded (or another order's
        # refund id stored) meanwhile would be lost on PostgreSQL.
        fresh = db.session.execute(for_update(select(Payment).where(Payment.id == payment_id))).scalar_one()
        data = dict(fresh.data or {})
        data["needs_refund"] = [dict(item, refund_id=made.id) if item.get("order_id") == order_id else item
                                for item in data.get("needs_refund", [])]
        fresh.data = data


def order_payment_rows(order: Order) -> list[tuple[OrderPayment, Payment]]:
    """The payments towards ``order``, oldest first, with what each pays (for pages and plugins)."""
    return [(row[0], row[1]) for row in db.session.execute(
        select(OrderPayment, Payment).join(Payment, Payment.id == OrderPayment.payment_id)
        .where(OrderPayment.order_id == order.id).order_by(OrderPayment.id)).all()]

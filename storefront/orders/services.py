"""Order use cases after placement: cancel, ship, confirm, notes, reminders.

Every function here is what the buyer pages, the admin pages, the JSON API
and the sweeps call; each status change goes through ``transition()``.
Public functions open their own short write transaction, or join the
caller's when already inside one (so a plugin's sweep can close an order as
part of its own transaction). Queries live in :mod:`.queries`.

Timeline rows store codes and free text (a note, a tracking number), never
translated sentences: pages translate ``kind``/``to_status``/``data`` when
they render, in the reader's language.
"""
from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from ..audit.services import record as audit
from ..catalog.models import Sku
from ..clock import utcnow
from ..database import after_commit, lock_row, write_transaction
from ..errors import (ConcurrentUpdate, Conflict, Forbidden, InvalidTransition, NotFound,
                      ValidationFailed)
from ..extensions import db
from ..i18n import gettext as _
from ..notify.services import add_prepared_message, prepare_order_notification, queue_order_notification
from ..settings import get_setting
from .models import Order, OrderEvent, OrderNote
# Re-exported: views, API and other domains import every order use case from here.
from .queries import (StaffOrderFilters, buyer_orders, get_buyer_order, get_order,  # noqa: F401
                      get_order_by_number, staff_orders)
from .status import SELLER_CANCEL_REASONS, CancelReason, NoteFlag, OrderStatus
from .transitions import Actor, record_event, transition

TRACKING_RE = re.compile(r"^[A-Za-z0-9-]{4,40}$")
NOTE_MAX = 1000
REMINDER_INTERVAL = timedelta(hours=1)
CANCELLABLE_BY_BUYER = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID})


class AlreadyShipped(InvalidTransition):
    """The buyer asked to cancel an order that is already on its way (DOMAIN.md §2)."""

    code = "already_shipped"


def _transaction():
    # write_transaction joins a caller's open write transaction.
    return write_transaction()


def _fresh(order: Order) -> Order:
    """Reload ``order`` inside the write transaction so decisions use current data."""
    db.session.refresh(order)
    return order


def _require_staff(user) -> Actor:
    if user is None or not getattr(user, "is_staff", False):
        raise Forbidden(_("Staff only."))
    return Actor.of(user)


def _require_buyer(order: Order, user) -> Actor:
    # Another buyer's order answers 404, never 403: its existence is not disclosed.
    if user is None or not getattr(user, "is_authenticated", False) or order.user_id != user.id:
        raise NotFound(_("Order not found."))
    return Actor("buyer", user.id, user.email)


# -- validation shared by the forms, the API and the CSV import -------------------------
def validate_carrier(carrier: str | None) -> str:
    """The canonical carrier name from the ``carriers`` setting (case-insensitive)."""
    wanted = (carrier or "").strip().casefold()
    for name in get_setting("carriers") or []:
        if str(name).casefold() == wanted and wanted:
            return str(name)
    raise ValidationFailed(_("Choose one of the shop's carriers."), field="carrier")


def validate_tracking(tracking_number: str | None) -> str:
    value = (tracking_number or "").strip()
    if not TRACKING_RE.match(value):
        raise ValidationFailed(
            _("A tracking number has 4 to 40 letters, digits or dashes."), field="tracking_number")
    return value


def seller_reason(reason) -> CancelReason:
    try:
        value = CancelReason(str(reason))
    except ValueError:
        value = None
    if value not in SELLER_CANCEL_REASONS:
        raise ValidationFailed(_("A seller may cancel only for one of the listed reasons."), field="reason")
    return value


# -- closing ----------------------------------------------------------------------------
def _release_stock(order: Order) -> None:
    # Runs only in the transaction whose conditional status UPDATE won, so
    # the stock comes back exactly once however many workers raced.
    for line in order.lines:
        if line.sku_id is None or (line.data or {}).get("no_stock_release"):
            continue
        db.session.execute(
            update(Sku).where(Sku.id == line.sku_id).values(stock=Sku.stock + line.quantity)
            .execution_options(synchronize_session=False)
        )


#: Set on an order in the transaction that closes it paid; the refund itself runs after the commit.
REFUND_ON_CLOSE = "refund_on_close"


def _refund_if_paid(order: Order, was_paid: bool, reason: CancelReason, actor: Actor) -> None:
    if not was_paid:
        return
    # payments.refund calls the provider outside any transaction, so it runs
    # once the close has committed. Its key makes a retry safe; a failure is
    # left on the staff timeline instead of undoing the (correct) close. The
    # marker, committed with the close, lets the owed-refunds sweep start the
    # refund if this process dies before it does (payments.owed).
    order.data = {**(order.data or {}), REFUND_ON_CLOSE: True}
    order_id = order.id
    after_commit(lambda: refund_closed_order(order_id, reason.value, actor))


def refund_closed_order(order_id: int, reason: str, actor: Actor) -> None:
    """Refund what a closed order still holds, under the key ``close-<id>`` (once, whoever calls)."""
    from ..payments import services as payments

    fresh = db.session.get(Order, order_id, populate_existing=True)
    amount = int(fresh.paid_total or 0) - int(fresh.refunded_total or 0)
    if amount <= 0:
        return
    try:
        payments.refund(order=fresh, amount=amount, reason=reason,
                        idempotency_key=f"close-{order_id}", actor=actor)
    except Exception as exc:
        current_app.logger.exception("refund of closed order %s failed", order_id)
        with write_transaction():
            record_event(fresh, "refund_failed", actor=actor, public=False,
                         reason=getattr(exc, "code", type(exc).__name__),
                         data={"amount": amount, "refund_key": f"close-{order_id}"})


def _close(order: Order, reason: CancelReason, actor: Actor, note: str = "", *,
           goods_returned: bool = False, keep_paid: bool = False) -> OrderEvent:
    reason = CancelReason(reason)
    status = OrderStatus(order.status)
    # The table allows shipped -> closed only for after-sales' full refund;
    # the goods left the warehouse, so there is no stock to give back.
    if status == OrderStatus.SHIPPED and reason != CancelReason.REFUNDED:
        raise InvalidTransition(f"A shipped order cannot be closed for {reason.value}.",
                                details={"from": status.value, "to": OrderStatus.CLOSED.value})
    before_shipment = status in CANCELLABLE_BY_BUYER
    # Goods that never left the shop (an uncollected pickup) or came back go
    # on sale again, and a shipped order was paid: refund what is left.
    back_in_stock = before_shipment or (goods_returned and status == OrderStatus.SHIPPED)
    was_paid = status == OrderStatus.PAID or back_in_stock and status == OrderStatus.SHIPPED
    event = transition(
        order, OrderStatus.CLOSED, actor=actor,
        reason=note,
        values={"close_reason": reason.value,
                "closed_by_seller": reason in SELLER_CANCEL_REASONS},
        data={"close_reason": reason.value},
    )
    if status == OrderStatus.PENDING_PAYMENT:
        # A part-paid order (a deposit): read after the status UPDATE, which
        # waited for any payment being applied to this row right now.
        received = db.session.execute(select(Order.paid_total).where(Order.id == order.id)).scalar() or 0
        was_paid = received > 0 and not keep_paid
    if back_in_stock:
        _release_stock(order)
        _refund_if_paid(order, was_paid, reason, actor)
    if reason != CancelReason.BUYER_CANCELLED:
        queue_order_notification(order, "order_closed")
    return event


def close_order(order: Order, reason: CancelReason, actor: Actor, note: str = "", *,
                goods_returned: bool = False, keep_paid: bool = False, fresh: bool = False) -> OrderEvent:
    """Close a pending or paid order, give its stock back once, refund it if paid.

    A pending order that already received part of its total (a presale
    deposit) gets that money back, unless ``keep_paid=True`` (the buyer
    forfeits the deposit); a paid order is always refunded.

    A shipped order can be closed only with reason ``refunded``. Its stock
    comes back and the unrefunded rest is refunded only with
    ``goods_returned=True`` (the goods never left the shop, e.g. an
    uncollected pickup, or were returned); otherwise after-sales has already
    refunded everything and nothing more happens.

    ``fresh``: the caller read ``order`` inside its own write transaction just now
    (a sweep's claim), so it is not read a second time.
    """
    with _transaction():
        if not fresh:
            _fresh(order)
        return _close(order, reason, actor, note, goods_returned=goods_returned, keep_paid=keep_paid)


def cancel_by_buyer(order: Order, user) -> OrderEvent:
    """The buyer cancels before shipment; a shipped or completed order cannot be."""
    actor = _require_buyer(order, user)
    with _transaction():
        _fresh(order)
        status = OrderStatus(order.status)
        if status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
            raise AlreadyShipped(
                _("This order has already shipped and can no longer be cancelled. "
                  "Ask for a refund after it arrives."),
                details={"from": status.value, "to": OrderStatus.CLOSED.value})
        if status not in CANCELLABLE_BY_BUYER:
            raise InvalidTransition(_("This order is already closed."),
                                    details={"from": status.value, "to": OrderStatus.CLOSED.value})
        return _close(order, CancelReason.BUYER_CANCELLED, actor)


def cancel_by_seller(order: Order, staff, reason, note: str = "") -> OrderEvent:
    """Staff cancel for a listed reason only (DOMAIN.md §2); it counts against the shop."""
    actor = _require_staff(staff)
    reason = seller_reason(reason)
    note = (note or "").strip()
    if reason == CancelReason.BUYER_UNREACHABLE and not note:
        raise ValidationFailed(_("Say how you tried to reach the buyer."), field="note")
    if len(note) > 500:
        raise ValidationFailed(_("At most 500 characters."), field="note")
    with _transaction():
        _fresh(order)
        before = OrderStatus(order.status)
        if reason == CancelReason.DUPLICATE_ORDER and before != OrderStatus.PENDING_PAYMENT:
            raise ValidationFailed(_("Only an unpaid order can be closed as a duplicate."), field="reason")
        event = _close(order, reason, actor, note)
        audit(staff, "order.cancel", order, before={"status": before.value},
              after={"status": OrderStatus.CLOSED.value, "reason": reason.value, "note": note})
        return event


# -- shipping and receipt ---------------------------------------------------------------
def ship_order(order: Order, staff, carrier: str, tracking_number: str) -> OrderEvent:
    """Hand a paid order to a carrier; the buyer is notified in the same transaction."""
    actor = _require_staff(staff)
    carrier = validate_carrier(carrier)
    tracking_number = validate_tracking(tracking_number)
    shipped_at = utcnow()
    values = {"carrier": carrier, "tracking_number": tracking_number, "shipped_at": shipped_at,
              "auto_confirm_at": shipped_at + timedelta(days=int(get_setting("auto_confirm_days")))}
    # The "shipped" message is rendered before the write lock, which buyers checking out
    # wait for while staff ship a day's orders: it shows what is fixed once an order is
    # placed (lines, adjustments, a presale's promise) and the values written below. The
    # order is kept as read; the status UPDATE is conditional on the status it was read
    # with, so an order closed meanwhile is refused, not shipped.
    message = prepare_order_notification(order, "order_shipped", showing={"status": OrderStatus.SHIPPED, **values}) \
        if OrderStatus(order.status) == OrderStatus.PAID else None
    with write_transaction(keep=(order,)):
        event = transition(
            order, OrderStatus.SHIPPED, actor=actor, reason=f"{carrier} {tracking_number}",
            values=values,
            data={"carrier": carrier, "tracking_number": tracking_number},
        )
        add_prepared_message(message)
        audit(actor, "order.ship", order, before={"status": OrderStatus.PAID.value},
              after={"status": OrderStatus.SHIPPED.value, "carrier": carrier,
                     "tracking_number": tracking_number})
        return event


def confirm_receipt(order: Order, user) -> OrderEvent:
    """The buyer confirms the parcel arrived: the sale is final."""
    actor = _require_buyer(order, user)
    with _transaction():
        _fresh(order)
        return transition(order, OrderStatus.COMPLETED, actor=actor)


def auto_confirm(order: Order, *, fresh: bool = False) -> OrderEvent:
    """Complete a shipped order whose auto-confirm deadline passed (used by the sweep;
    ``fresh`` as in :func:`close_order`)."""
    with _transaction():
        if not fresh:
            _fresh(order)
        return transition(order, OrderStatus.COMPLETED, actor=Actor.system("auto-confirm"),
                           data={"auto": True})


def extend_auto_confirm(order: Order, staff) -> OrderEvent:
    """Give the buyer more time before auto-confirm (after-sales in progress, 003)."""
    actor = _require_staff(staff)
    days = int(get_setting("auto_confirm_extend_days"))
    with _transaction():
        _fresh(order)
        if OrderStatus(order.status) != OrderStatus.SHIPPED:
            raise InvalidTransition(_("Only a shipped order has an auto-confirm deadline to extend."),
                                    details={"from": OrderStatus(order.status).value})
        old = order.auto_confirm_at
        new = (old or utcnow()) + timedelta(days=days)
        # Optimistic: the deadline we extend is the one we read.
        result = db.session.execute(
            update(Order)
            .where(Order.id == order.id, Order.status == OrderStatus.SHIPPED,
                   Order.auto_confirm_at == old if old is not None else Order.auto_confirm_at.is_(None))
            .values(auto_confirm_at=new, auto_confirm_extended=Order.auto_confirm_extended + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(_("The order changed meanwhile. Reload and try again."))
        db.session.refresh(order)
        event = record_event(order, "auto_confirm_extended", actor=actor,
                             data={"days": days, "until": new.isoformat()})
        audit(staff, "order.extend_auto_confirm", order,
              before={"auto_confirm_at": old.isoformat() if old else None},
              after={"auto_confirm_at": new.isoformat()})
        return event


# -- notes and reminders ----------------------------------------------------------------
def add_note(order: Order, author, body: str, flag: NoteFlag | str = NoteFlag.NONE,
             is_staff: bool = False) -> OrderNote:
    """Annotate an order: staff notes carry a flag and stay private; buyer notes are public."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(_("Write a note first."), field="body")
    if len(body) > NOTE_MAX:
        raise ValidationFailed(_("At most %(n)s characters.", n=NOTE_MAX), field="body")
    if is_staff:
        actor = _require_staff(author)
        try:
            flag = NoteFlag(str(flag or NoteFlag.NONE))
        except ValueError:
            raise ValidationFailed(_("Unknown flag."), field="flag") from None
    else:
        actor = _require_buyer(order, author)
        flag = NoteFlag.NONE
    with _transaction():
        note = OrderNote(order_id=order.id, author_id=author.id, author_label=author.email,
                         is_staff=is_staff, flag=flag, body=body, created_at=utcnow())
        db.session.add(note)
        db.session.flush()
        record_event(order, "note", actor=actor, reason=body[:500], public=not is_staff,
                     data={"note_id": note.id, "flag": flag.value})
        if is_staff:
            audit(author, "order.note", order, after={"flag": flag.value, "note_id": note.id})
        return note


def remind_unpaid(order: Order, staff) -> OrderEvent:
    """催单: remind a buyer who ordered but has not paid (at most once an hour)."""
    actor = _require_staff(staff)
    with _transaction():
        # Two staff reminding at once would both see no recent reminder. A lock of its own,
        # not a locked refresh: that would repeat the order's loader options, and PostgreSQL
        # refuses FOR UPDATE on the outer joins of a page's eager loads.
        lock_row(Order, order.id)
        _fresh(order)
        if OrderStatus(order.status) != OrderStatus.PENDING_PAYMENT:
            raise InvalidTransition(_("Only an unpaid order can be reminded."),
                                    details={"from": OrderStatus(order.status).value})
        last = db.session.execute(
            select(OrderEvent.at).where(OrderEvent.order_id == order.id,
                                        OrderEvent.kind == "payment_reminder")
            .order_by(OrderEvent.id.desc()).limit(1)
        ).scalar()
        if last is not None and last > utcnow() - REMINDER_INTERVAL:
            raise Conflict(_("The buyer was reminded less than an hour ago."), code="reminded_recently")
        queue_order_notification(order, "order_payment_reminder")
        event = record_event(order, "payment_reminder", actor=actor)
        audit(staff, "order.remind_unpaid", order)
        return event

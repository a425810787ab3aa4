"""Staff decisions on a case: approve, reject, the return's arrival and its
inspection, refund, reship, assign, note, extend auto-confirm. The auto rules
call the same functions with a system actor.

Money leaves only through :func:`storefront.payments.services.refund` with one
idempotency key per case, after the case was claimed by a conditional status
change: a double click or two staff members make one refund, and the payment
service caps every refund per line and per order. A refund paid as store
credit (:mod:`.credit_refunds`) is claimed, capped and credited in one
transaction.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from storefront.accounts.models import User
from storefront.catalog.models import Sku
from storefront.clock import utcnow
from storefront.database import write_transaction
from storefront.errors import Conflict, ServiceError, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders import services as order_services
from storefront.orders.models import Order, OrderLine
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor

from .cases import split_amount
from .credit_refunds import pay_as_credit
from .models import (APPROVED, ARRIVED, AWAITING_RETURN, CATEGORIES, EXCHANGE, INSPECTED, INSPECTION_RESULTS,
                     REFUND_CREDIT, REFUND_METHODS, REFUND_ORIGINAL, REFUND_SHIPPED, REFUND_UNSHIPPED, REFUNDED,
                     REJECTED, REQUESTED, RESHIPPED, RETURN_KINDS, RETURN_REFUND, RETURNING, Case, CaseLine)
from .notices import notify
from .services import get_case, log, move, require_decider, require_staff, setting_int, settings

NOTE_MAX = 1000


def _decision(case: Case, for_buyer: bool) -> dict:
    """An escalated case records who the owner decided for (``buyer`` = against the seller)."""
    if not case.escalated:
        return {}
    return {"escalation_decision": "buyer" if for_buyer else "seller"}


def _note(text: str | None, *, required: bool = False, field: str = "note") -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationFailed(_("Give a reason."), field=field)
    if len(text) > NOTE_MAX:
        raise ValidationFailed(_("At most %(n)s characters.", n=NOTE_MAX), field=field)
    return text


# -- approve -----------------------------------------------------------------------------
def _method(method: str | None) -> str:
    method = method or REFUND_ORIGINAL
    if method not in REFUND_METHODS:
        raise ValidationFailed(_("Choose how the refund is paid."), field="method")
    return method


def approve(case: Case, staff=None, *, return_address: str | None = None, actor: Actor | None = None,
            auto: bool = False, method: str | None = None) -> Case:
    """Approve a request. Refund-only on an unshipped order closes the order at
    once (stock back, refund of what is left, to the original payment or as
    store credit: ``method``); a return gets the return address and the
    posting deadline; a refund-only on a shipped order waits for the refund."""
    actor = actor or require_decider(case, staff)
    method = _method(method)
    kind_event = "auto_approved" if auto else "approved"
    values = {"auto_approved": True} if auto else {}
    if case.kind in RETURN_KINDS:
        address = (return_address or settings().get("return_address") or "").strip()
        if not address:
            raise ValidationFailed(_("Give the address the goods go back to."), field="return_address")
        if len(address) > 400:
            raise ValidationFailed(_("At most %(n)s characters.", n=400), field="return_address")
        deadline = utcnow() + timedelta(days=setting_int("return_post_days"))
        with write_transaction():
            move(case, (REQUESTED,), AWAITING_RETURN, actor, kind_event,
                 values={**values, "return_address": address, "return_deadline": deadline,
                         **_decision(case, True)},
                 data={"return_deadline": deadline.isoformat()})
            notify(case, "awaiting_return")
        return case
    if case.kind == REFUND_UNSHIPPED:
        return _refund_unshipped(case, actor, kind_event, values, method)
    with write_transaction():
        move(case, (REQUESTED,), APPROVED, actor, kind_event, values={**values, **_decision(case, True)})
        notify(case, "approved")
    return case


def _refund_unshipped(case: Case, actor: Actor, kind_event: str, values: dict, method: str) -> Case:
    """Not shipped yet: cancel the order through the core (stock back once, refund after commit).

    As store credit, the credit is posted and counted as refunded before the
    close, so the core's refund of "what is left" finds nothing left to send."""
    # The case as read: its status is the conditional UPDATEs' to check. Kept, so the
    # commit opening the transaction does not make it (and the order) reload under the lock.
    with write_transaction(keep=(case,)):
        order = db.session.get(Order, case.order_id, populate_existing=True)
        if OrderStatus(order.status) != OrderStatus.PAID:
            raise Conflict(_("The order has left the paid state (it is %(status)s); decide the request again.",
                             status=OrderStatus(order.status).value), code="order_not_unshipped")
        amount = int(order.total) - int(order.refunded_total or 0)
        move(case, (REQUESTED,), APPROVED, actor, kind_event, values={**values, **_decision(case, True)})
        # Approved and done in one go: the case is no longer open, so the
        # transition guard lets the order close.
        move(case, (APPROVED,), REFUNDED, actor, "refunded",
             values={"amount_refunded": amount, "refund_method": method},
             data={"amount": amount, "method": method})
        if method == REFUND_CREDIT and amount > 0:
            pay_as_credit(case, order, amount, actor,
                          lines={line.id: int(line.paid_amount) - int(line.refunded_amount or 0)
                                 for line in order.lines if int(line.paid_amount) > int(line.refunded_amount or 0)})
        # Read just above, in this transaction: close_order need not read it again.
        order_services.close_order(order, CancelReason.BUYER_CANCELLED, actor, note=case.number, fresh=True)
        notify(case, "refunded")
    return case


# -- reject ------------------------------------------------------------------------------
def reject(case: Case, staff, reason: str) -> Case:
    actor = require_decider(case, staff)
    reason = _note(reason, required=True, field="reason")
    with write_transaction():
        move(case, (REQUESTED, INSPECTED), REJECTED, actor, "rejected", note=reason,
             values=_decision(case, False))
        notify(case, "rejected")
    return case


# -- the return comes back --------------------------------------------------------------
def _require_return(case: Case, staff) -> Actor:
    actor = require_staff(staff)
    if case.kind not in RETURN_KINDS:
        raise Conflict(_("Only a return has goods to receive."), code="not_a_return")
    return actor


def _inspection(result: str | None) -> str:
    if result not in INSPECTION_RESULTS:
        raise ValidationFailed(_("Choose the inspection result."), field="inspection_result")
    return result


def arrive(case: Case, staff, note: str = "") -> Case:
    """The return parcel is at the shop (ends the transit segment; inspection follows)."""
    actor = _require_return(case, staff)
    note = _note(note)
    with write_transaction():
        move(case, (AWAITING_RETURN, RETURNING), ARRIVED, actor, "arrived", note=note)
    return case


def inspect(case: Case, staff, inspection_result: str, note: str = "") -> Case:
    """The arrived goods were inspected; ``restock`` puts them back on sale (once)."""
    actor = _require_return(case, staff)
    inspection_result = _inspection(inspection_result)
    note = _note(note)
    with write_transaction():
        _inspect(case, actor, inspection_result, note)
    return case


def _inspect(case: Case, actor: Actor, inspection_result: str, note: str) -> None:
    move(case, (ARRIVED,), INSPECTED, actor, "inspected", note=note,
         values={"inspection_result": inspection_result}, data={"inspection": inspection_result})
    if inspection_result == "restock":
        _restock(case)


def receive(case: Case, staff, inspection_result: str, note: str = "") -> Case:
    """Arrival and inspection in one step (the API's ``receive``, for clients that
    record both at once): two timeline entries with the same time, so the
    inspection segment of the metrics is zero for such a case."""
    actor = _require_return(case, staff)
    inspection_result = _inspection(inspection_result)
    note = _note(note)
    with write_transaction():
        db.session.refresh(case)
        if case.status != ARRIVED:
            move(case, (AWAITING_RETURN, RETURNING), ARRIVED, actor, "arrived")
        _inspect(case, actor, inspection_result, note)
    return case


def _restock(case: Case) -> None:
    # Runs only in the transaction whose conditional status change won: exactly once.
    rows = db.session.execute(
        select(OrderLine.sku_id, CaseLine.quantity).join(OrderLine, OrderLine.id == CaseLine.order_line_id)
        .where(CaseLine.case_id == case.id)).all()
    for sku_id, quantity in rows:
        if sku_id is None:
            continue
        db.session.execute(update(Sku).where(Sku.id == sku_id).values(stock=Sku.stock + quantity)
                           .execution_options(synchronize_session=False))


# -- refund ------------------------------------------------------------------------------
def refundable_from(case: Case) -> tuple[str, ...]:
    if case.kind == REFUND_SHIPPED:
        return (REQUESTED, APPROVED)
    if case.kind == RETURN_REFUND:
        return (INSPECTED,)
    return ()


def refund(case: Case, staff=None, amount: int | None = None, *, actor: Actor | None = None,
           auto: bool = False, method: str | None = None) -> Case:
    """Refund (all or part of) what the case asks for, through the payment
    provider (``method="original"``) or as store credit (``"credit"``).

    The case is claimed first (conditional move to ``refunded``), then the
    provider is called with the case's key; if the provider fails the case
    goes back to where it was, with a timeline entry. Store credit is capped
    and posted in the claiming transaction itself.
    """
    actor = actor or require_decider(case, staff)
    method = _method(method)
    if case.kind == REFUND_UNSHIPPED:
        return approve(case, staff, actor=actor, auto=auto, method=method)
    allowed = refundable_from(case)
    if not allowed:
        raise Conflict(_("This request is not refunded with money."), code="not_refundable")
    if amount in (None, ""):
        amount = int(case.amount_requested)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationFailed(_("Enter an amount."), field="amount")
    if amount <= 0 or amount > int(case.amount_requested):
        raise ValidationFailed(_("Between 1 and the amount asked for."), field="amount",
                               code="amount_out_of_range", details={"max": int(case.amount_requested)})
    with write_transaction():
        db.session.refresh(case)
        before = case.status
        # A failed provider call puts these back as they were.
        stamps = {"approved_at": case.approved_at, "inspected_at": case.inspected_at}
        values = {"amount_refunded": amount, "refund_method": method, **_decision(case, True)}
        if before == REQUESTED:
            values["approved_at"] = utcnow()
            if auto:
                values["auto_approved"] = True
        move(case, allowed, REFUNDED, actor, "auto_refunded" if auto else "refunded",
             values=values, data={"amount": amount, "method": method})
        if method == REFUND_CREDIT:
            pay_as_credit(case, db.session.get(Order, case.order_id, populate_existing=True), amount, actor)
    if method == REFUND_ORIGINAL:
        _pay_out(case, before, amount, actor, stamps)
    with write_transaction():
        notify(case, "refunded")
    _close_if_fully_refunded(case.order_id, actor)
    return case


def _pay_out(case: Case, before: str, amount: int, actor: Actor, stamps: dict) -> None:
    from storefront.payments import services as payments

    order = db.session.get(Order, case.order_id, populate_existing=True)
    # Other refunds (compensation, an earlier case) may have used part of a
    # line since the request: give each line at most what it has left; the
    # payment service caps the order as a whole.
    left = {line.id: max(0, int(line.paid_amount) - int(line.refunded_amount or 0)) for line in order.lines}
    shares = {cl.order_line_id: min(int(cl.amount), left.get(cl.order_line_id, 0)) for cl in case.lines}
    lines = split_amount(min(amount, sum(shares.values())), shares)
    try:
        payments.refund(order, amount, f"aftersales {case.number}", f"aftersales-{case.id}", actor,
                        lines={k: v for k, v in lines.items() if v})
    except Exception as exc:  # whatever failed, no money left: the case must not say refunded
        code = getattr(exc, "code", type(exc).__name__)
        current_app.logger.warning("after-sales refund of case %s failed: %s", case.number, code)
        undo = {"amount_refunded": 0, "refunded_at": None, "completed_at": None, "refund_method": None,
                **stamps}
        if before == REQUESTED:
            undo.update(approved_at=None, auto_approved=False)
        with write_transaction():
            move(case, (REFUNDED,), before, actor, "refund_failed", note=str(code), values=undo,
                 data={"code": str(code), "amount": amount})
        raise


def _close_if_fully_refunded(order_id: int, actor: Actor) -> None:
    """A shipped order all of whose lines are refunded ends closed (reason ``refunded``)."""
    order = db.session.get(Order, order_id, populate_existing=True)
    if order is None or OrderStatus(order.status) != OrderStatus.SHIPPED:
        return
    if any(int(line.refunded_amount or 0) < int(line.paid_amount) for line in order.lines):
        return
    try:
        # The goods' stock was handled at inspection; nothing more to restock.
        order_services.close_order(order, CancelReason.REFUNDED, actor, goods_returned=False)
    except ServiceError as exc:  # another case or a person got there first
        current_app.logger.info("order %s not closed after refund: %s", order_id, exc.code)


# -- exchange ----------------------------------------------------------------------------
def reship(case: Case, staff, carrier: str, tracking_number: str) -> Case:
    actor = require_decider(case, staff)
    if case.kind != EXCHANGE:
        raise Conflict(_("Only an exchange is reshipped."), code="not_an_exchange")
    carrier = order_services.validate_carrier(carrier)
    tracking_number = order_services.validate_tracking(tracking_number)
    with write_transaction():
        move(case, (REQUESTED, AWAITING_RETURN, RETURNING, ARRIVED, INSPECTED), RESHIPPED, actor, "reshipped",
             values=_decision(case, True), data={"carrier": carrier, "tracking_number": tracking_number})
        notify(case, "reshipped")
    return case


# -- housekeeping ------------------------------------------------------------------------
def assign(case: Case, staff, assignee_id: int | None, category: str | None = None) -> Case:
    actor = require_staff(staff)
    values: dict = {"updated_at": utcnow()}
    if assignee_id not in (None, "", 0):
        assignee = db.session.get(User, int(assignee_id))
        if assignee is None or not assignee.is_staff:
            raise ValidationFailed(_("Choose a staff member."), field="assignee_id")
        values["assignee_id"] = assignee.id
    else:
        values["assignee_id"] = None
    if category:
        if category not in CATEGORIES:
            raise ValidationFailed(_("Choose a category."), field="category")
        values["category"] = category
    with write_transaction():
        previous = db.session.execute(select(Case.assignee_id, Case.category).where(Case.id == case.id)).one()
        db.session.execute(update(Case).where(Case.id == case.id).values(**values)
                           .execution_options(synchronize_session=False))
        log(case, "assigned", actor, public=False,
            data={"assignee_id": values["assignee_id"], "category": values.get("category")},
            before={"assignee_id": previous.assignee_id,
                    **({"category": previous.category} if "category" in values else {})},
            after={key: values[key] for key in ("assignee_id", "category") if key in values})
    db.session.refresh(case)
    return case


def add_note(case: Case, staff, body: str) -> Case:
    actor = require_staff(staff)
    body = _note(body, required=True, field="body")
    with write_transaction():
        log(case, "note", actor, note=body, public=False)
    return case


def extend_auto_confirm(case: Case, staff) -> Case:
    actor = require_staff(staff)
    order = db.session.get(Order, case.order_id)
    with write_transaction():
        order_services.extend_auto_confirm(order, staff)
        log(case, "auto_confirm_extended", actor, public=False,
            data={"until": order.auto_confirm_at.isoformat() if order.auto_confirm_at else None})
    return case


def case_by_id(case_id: int) -> Case:
    return get_case(case_id)


"""Buyer use cases: what may be asked for, opening a case, cancelling it,
entering the return parcel, writing in the thread. Views, API and tests call these.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from storefront.clock import utcnow
from storefront.database import lock_row, write_transaction
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.services import validate_carrier, validate_tracking
from storefront.orders.status import OrderStatus
from storefront.orders.transitions import Actor

from . import uploads
from .models import (AWAITING_RETURN, CANCELLED, EXCHANGE, KINDS, REASONS, REFUND_SHIPPED, REFUND_UNSHIPPED,
                     REJECTED, REQUESTED, RETURN_REFUND, RETURNING, Case, CaseLine, CaseMessage)
from .services import case_for_buyer, has_open_case, lock_order, log, mark_first_response, move, setting_int

EVIDENCE_REASONS = ("quality", "damaged", "wrong_item", "missing_item")
DESCRIPTION_MAX = 2000
MESSAGE_MAX = 2000


@dataclass(frozen=True)
class LineChoice:
    line_id: int
    name: str
    quantity: int  # bought
    max_amount: int  # refundable for the whole line now


def buyer_order(order_id: int, user) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or user is None or not getattr(user, "is_authenticated", False) or order.user_id != user.id:
        raise NotFound(_("Order not found."))
    return order


def kinds_for(order: Order) -> list[str]:
    """What the buyer may ask for on ``order`` now (empty: nothing)."""
    status = OrderStatus(order.status)
    if status == OrderStatus.PAID:
        return [REFUND_UNSHIPPED]
    if status == OrderStatus.SHIPPED:
        return [REFUND_SHIPPED, RETURN_REFUND, EXCHANGE]
    if status == OrderStatus.COMPLETED and order.completed_at is not None and \
            order.completed_at >= utcnow() - timedelta(days=setting_int("request_window_days")):
        return [REFUND_SHIPPED, RETURN_REFUND, EXCHANGE]
    return []


def line_choices(order: Order) -> list[LineChoice]:
    return [LineChoice(line.id, line.product_name + (f" ({line.sku_label})" if line.sku_label else ""),
                       line.quantity, line_max(line, line.quantity))
            for line in order.lines]


def line_max(line, quantity: int) -> int:
    """What the buyer paid for ``quantity`` of ``line`` after discounts, minus earlier refunds."""
    left = max(0, int(line.paid_amount) - int(line.refunded_amount or 0))
    if quantity >= line.quantity:
        return left
    return min(left, int(line.paid_amount) * quantity // int(line.quantity))


def max_refundable(order: Order, quantities: dict[int, int]) -> int:
    by_id = {line.id: line for line in order.lines}
    total = sum(line_max(by_id[i], q) for i, q in quantities.items())
    whole = all(quantities.get(line.id, 0) >= line.quantity for line in order.lines)
    if whole:
        # The whole order: shipping and whatever is left beyond the lines too.
        total = max(total, int(order.total) - int(order.refunded_total or 0))
    return total


def _clean_quantities(order: Order, raw) -> dict[int, int]:
    by_id = {line.id: line for line in order.lines}
    cleaned: dict[int, int] = {}
    for key, value in (raw or {}).items():
        try:
            line_id, qty = int(key), int(value)
        except (TypeError, ValueError):
            raise ValidationFailed(_("Choose how many of each item."), field="lines") from None
        if line_id not in by_id:
            raise ValidationFailed(_("That item is not part of this order."), field="lines")
        if qty < 0 or qty > by_id[line_id].quantity:
            raise ValidationFailed(_("You bought %(n)s of that item.", n=by_id[line_id].quantity), field="lines")
        if qty:
            cleaned[line_id] = qty
    if not cleaned:
        raise ValidationFailed(_("Choose at least one item."), field="lines")
    return cleaned


def split_amount(amount: int, shares: dict[int, int]) -> dict[int, int]:
    """``amount`` over lines in proportion to their maxima, never above one; remainder to the first lines."""
    total = sum(shares.values())
    if total <= 0 or amount <= 0:
        return {k: 0 for k in shares}
    out = {k: min(v, amount * v // total) for k, v in shares.items()}
    rest = amount - sum(out.values())
    for k, v in shares.items():
        extra = min(rest, v - out[k])
        out[k] += extra
        rest -= extra
    return out


def _new_number() -> str:
    return f"AS{utcnow():%y%m%d}{secrets.randbelow(10**6):06d}"


def validate_request(order: Order, data: dict) -> dict:
    """Check a request against the order as it is now; returns the cleaned values."""
    kind = str(data.get("kind") or "")
    if kind not in KINDS:
        raise ValidationFailed(_("Choose what you would like."), field="kind")
    if kind not in kinds_for(order):
        raise Conflict(_("This order cannot have that request now."), code="kind_not_available", field="kind")
    reason = str(data.get("reason") or "")
    if reason not in REASONS:
        raise ValidationFailed(_("Choose a reason."), field="reason")
    description = str(data.get("description") or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(_("At most %(n)s characters.", n=DESCRIPTION_MAX), field="description")
    if kind == REFUND_UNSHIPPED:
        # Not shipped yet: the whole order is cancelled and refunded.
        quantities = {line.id: line.quantity for line in order.lines}
    else:
        quantities = _clean_quantities(order, data.get("lines"))
    by_id = {line.id: line for line in order.lines}
    maxima = {i: line_max(by_id[i], q) for i, q in quantities.items()}
    ceiling = max_refundable(order, quantities)
    raw_amount = data.get("amount")
    if kind == EXCHANGE:
        amount = 0
    elif kind == REFUND_UNSHIPPED or raw_amount in (None, ""):
        amount = ceiling
    else:
        try:
            amount = int(raw_amount)
        except (TypeError, ValueError):
            raise ValidationFailed(_("Enter an amount."), field="amount") from None
        if isinstance(raw_amount, bool) or amount <= 0:
            raise ValidationFailed(_("Enter an amount above zero."), field="amount")
        if amount > ceiling:
            raise ValidationFailed(_("At most what you paid for these items, less earlier refunds."),
                                   field="amount", code="amount_too_high", details={"max": ceiling})
    if kind != EXCHANGE and amount <= 0:
        raise Conflict(_("Everything on this order has already been refunded."), code="nothing_to_refund")
    return {"kind": kind, "reason": reason, "description": description, "quantities": quantities,
            "maxima": maxima, "amount": amount}


def create_case(order: Order, user, data: dict, files=None) -> Case:
    """Open a request on the buyer's own order. Evidence photos are required for
    quality, damage, wrong-item and missing-item reasons. A request after a
    rejected one on the same order is escalated to the owner."""
    order = buyer_order(order.id, user)
    clean = validate_request(order, data)
    blobs = uploads.read_uploads(files)
    if clean["reason"] in EVIDENCE_REASONS and not blobs:
        raise ValidationFailed(_("Add at least one photo for this reason."), field="evidence",
                               code="evidence_required")
    encoded = uploads.encode_all(blobs)
    written = uploads.write_files(encoded)
    actor = Actor("buyer", user.id, user.email)
    try:
        case_id = _insert_case(order, user, clean, written, actor)
    except BaseException:
        uploads.remove_files([name for name, _img in written])
        raise
    case = db.session.get(Case, case_id)
    from .rules import apply_on_create

    apply_on_create(case)
    db.session.expire_all()
    return db.session.get(Case, case_id)


def _insert_case(order: Order, user, clean: dict, written, actor: Actor) -> int:
    # The ids as read: the commit that opens each attempt expires the objects, and reading
    # them inside would reload the order and the buyer while holding the write lock.
    order_id, user_id = order.id, user.id
    for attempt in range(3):
        try:
            with write_transaction():
                fresh = lock_order(order_id)
                # Re-checked under the lock: two tabs submitting at once make one case.
                validate_request(fresh, {**clean, "lines": clean["quantities"]})
                if has_open_case(order_id):
                    raise Conflict(_("This order already has an open request."), code="case_open")
                rejected = db.session.execute(
                    select(func.count(Case.id)).where(Case.order_id == order_id, Case.status == REJECTED)
                ).scalar() or 0
                escalated = rejected > 0
                category = "difficult" if escalated else (
                    "tracking" if clean["reason"] in ("not_received", "late_shipment") else "back_office")
                case = Case(number=_new_number(), order_id=order_id, user_id=user_id, kind=clean["kind"],
                            status=REQUESTED, reason=clean["reason"], description=clean["description"],
                            amount_requested=clean["amount"], amount_refunded=0, currency=fresh.currency,
                            category=category, attempt=rejected + 1, escalated=escalated,
                            auto_approved=False, created_at=utcnow(), updated_at=utcnow())
                shares = split_amount(clean["amount"], clean["maxima"])
                for line_id, qty in clean["quantities"].items():
                    case.lines.append(CaseLine(order_line_id=line_id, quantity=qty, amount=shares[line_id]))
                db.session.add(case)
                db.session.flush()
                db.session.add_all(uploads.evidence_rows(case.id, written, user_id))
                log(case, "requested", actor, to_status=REQUESTED, order=fresh,
                    data={"amount": clean["amount"], "reason": clean["reason"]})
                if escalated:
                    log(case, "escalated", actor, data={"attempt": rejected + 1}, order=fresh)
                return case.id
        except IntegrityError:
            db.session.rollback()  # the random number collided: draw another
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def cancel_case(case: Case, user) -> Case:
    case = case_for_buyer(case.number, user)
    with write_transaction():
        move(case, (REQUESTED, AWAITING_RETURN), CANCELLED, Actor("buyer", user.id, user.email), "cancelled")
    return case


def enter_return_tracking(case: Case, user, carrier: str, tracking_number: str) -> Case:
    case = case_for_buyer(case.number, user)
    carrier = validate_carrier(carrier)
    tracking_number = validate_tracking(tracking_number)
    with write_transaction():
        db.session.refresh(case)
        if case.status == AWAITING_RETURN and case.return_deadline and case.return_deadline < utcnow():
            raise Conflict(_("The deadline to post the return has passed."), code="return_deadline_passed")
        move(case, (AWAITING_RETURN,), RETURNING, Actor("buyer", user.id, user.email), "return_posted",
             values={"return_carrier": carrier, "return_tracking": tracking_number},
             data={"carrier": carrier, "tracking_number": tracking_number})
    return case


def post_message(case: Case, user, body: str) -> CaseMessage:
    """A message in the case thread, from the buyer (own case only) or staff."""
    is_staff = bool(getattr(user, "is_staff", False))
    if not is_staff:
        case = case_for_buyer(case.number, user)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(_("Write a message first."), field="body")
    if len(body) > MESSAGE_MAX:
        raise ValidationFailed(_("At most %(n)s characters.", n=MESSAGE_MAX), field="body")
    with write_transaction():
        message = CaseMessage(case_id=case.id, author_id=user.id, is_staff=is_staff, body=body,
                              created_at=utcnow())
        db.session.add(message)
        actor = Actor("staff" if is_staff else "buyer", user.id, user.email)
        log(case, "message", actor, public=False, data={"staff": is_staff})
        if is_staff:
            mark_first_response(case)
            from .notices import notify

            notify(case, "message")
    return message


def add_evidence(case: Case, user, files) -> int:
    """More photos on the buyer's open case."""
    case = case_for_buyer(case.number, user)
    if not case.is_open:
        raise Conflict(_("This request is closed."), code="case_closed")
    encoded = uploads.encode_all(uploads.read_uploads(files))
    if not encoded:
        raise ValidationFailed(_("Choose a photo."), field="evidence")
    written = uploads.write_files(encoded)
    try:
        with write_transaction():
            lock_row(Case, case.id)  # two uploads at once (two tabs) would both count the photos before either
            count = db.session.execute(select(func.count()).select_from(uploads.Evidence)
                                       .where(uploads.Evidence.case_id == case.id)).scalar() or 0
            if count + len(written) > uploads.MAX_FILES * 2:
                raise ValidationFailed(_("This request has enough photos."), field="evidence",
                                       code="too_many_files")
            db.session.add_all(uploads.evidence_rows(case.id, written, user.id))
            log(case, "evidence_added", Actor("buyer", user.id, user.email), public=False,
                data={"count": len(written)})
    except BaseException:
        uploads.remove_files([n for n, _i in written])
        raise
    return len(written)


BUYER_PAGE = 50


def buyer_cases(user, after_id: int | None = None, limit: int | None = None) -> tuple[list[Case], int | None]:
    """The buyer's requests, newest first, keyset-paginated: ``after_id`` is the last id of the
    previous page; also the id to continue after, or None on the last page."""
    limit = limit or BUYER_PAGE
    # Each row shows its order's number: loaded with the requests, not one by one.
    stmt = select(Case).options(joinedload(Case.order)).where(Case.user_id == user.id)
    if after_id:
        stmt = stmt.where(Case.id < after_id)
    rows = list(db.session.execute(stmt.order_by(Case.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


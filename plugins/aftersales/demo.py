"""Demo requests in a few states, so the queue and the metrics have something to show."""
from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select

from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus

from .models import (APPROVED, ARRIVED, AWAITING_RETURN, INSPECTED, REFUND_SHIPPED, REFUNDED, REJECTED, REQUESTED,
                     RETURN_REFUND, RETURNING, Case, CaseEvent, CaseLine)

_PLAN = [
    (REFUND_SHIPPED, "price_difference", REQUESTED, "tracking"),
    (RETURN_REFUND, "changed_mind", AWAITING_RETURN, "back_office"),
    (RETURN_REFUND, "quality", RETURNING, "back_office"),
    (RETURN_REFUND, "not_as_described", INSPECTED, "difficult"),
    (REFUND_SHIPPED, "damaged", APPROVED, "complaint"),
    (REFUND_SHIPPED, "not_received", REJECTED, "tracking"),
    (RETURN_REFUND, "wrong_item", REFUNDED, "back_office"),
    (RETURN_REFUND, "damaged", ARRIVED, "back_office"),
]


def add_demo_cases(now) -> None:
    """Rows written directly (inside the demo transaction): no refunds are made."""
    orders = list(db.session.execute(
        select(Order).where(Order.status.in_((OrderStatus.SHIPPED, OrderStatus.COMPLETED)), Order.user_id.isnot(None))
        .order_by(Order.id).limit(len(_PLAN))).scalars())
    for i, (order, (kind, reason, status, category)) in enumerate(zip(orders, _PLAN)):
        line = order.lines[0] if order.lines else None
        if line is None:
            continue
        created = now - timedelta(hours=6 * (i + 1))
        amount = min(int(line.paid_amount), 2000) if kind == REFUND_SHIPPED else int(line.paid_amount)
        case = Case(number=f"AS{created:%y%m%d}{secrets.randbelow(10**6):06d}", order_id=order.id,
                    user_id=order.user_id, kind=kind, status=status, reason=reason,
                    description="Demo request", amount_requested=amount,
                    amount_refunded=amount if status == REFUNDED else 0, currency=order.currency,
                    category=category, attempt=1, escalated=False, auto_approved=reason == "changed_mind",
                    created_at=created, updated_at=created)
        if status != REQUESTED:
            case.first_response_at = created + timedelta(minutes=3)
        if status in (APPROVED, AWAITING_RETURN, RETURNING, ARRIVED, INSPECTED, REFUNDED):
            case.approved_at = created + timedelta(minutes=3)
        if status in (AWAITING_RETURN, RETURNING, ARRIVED, INSPECTED, REFUNDED) and kind == RETURN_REFUND:
            case.return_address = "Returns desk, 1 Demo Road, Shanghai"
            case.return_deadline = case.approved_at + timedelta(days=7)
        if status in (RETURNING, ARRIVED, INSPECTED, REFUNDED) and kind == RETURN_REFUND:
            case.buyer_shipped_at = created + timedelta(hours=2)
            case.return_carrier, case.return_tracking = "SF Express", f"SF{secrets.randbelow(10**10):010d}"
        if status in (ARRIVED, INSPECTED, REFUNDED) and kind == RETURN_REFUND:
            case.arrived_at = created + timedelta(hours=4)
        if status in (INSPECTED, REFUNDED) and kind == RETURN_REFUND:
            case.inspected_at = created + timedelta(hours=4, minutes=30)
            case.inspection_result = "no_restock"
        if status == REFUNDED:
            case.refunded_at = case.completed_at = created + timedelta(hours=5)
            case.refund_method = "original"
        if status == REJECTED:
            case.closed_at = created + timedelta(hours=1)
        case.lines.append(CaseLine(order_line_id=line.id, quantity=1, amount=amount))
        db.session.add(case)
        db.session.flush()
        db.session.add(CaseEvent(case_id=case.id, at=created, kind="requested", actor_kind="buyer",
                                 actor_id=order.user_id, from_status=None, to_status=REQUESTED, data={}))
        if status != REQUESTED:
            db.session.add(CaseEvent(case_id=case.id, at=created + timedelta(minutes=3), kind=status,
                                     actor_kind="staff", actor_label="demo", from_status=REQUESTED,
                                     to_status=status, data={}))

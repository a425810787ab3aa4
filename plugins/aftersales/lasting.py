"""Hooks that keep serving cases already opened, whether or not the plugin is enabled.

The manifest's ``lasting_hooks``: the host calls them whatever the seller's
switch says. Switching after-sales off stops new requests, but a request
that is still open must keep the order from auto-completing (DOMAIN.md §1:
"an open refund case pauses auto-confirm") and from being shipped while the
buyer asked to cancel before shipment; and when such an order closes
elsewhere, its open requests close with it. Both hooks act only on orders
that have an ``aftersales_cases`` row (an order without one costs a single
indexed look-up, plus the order row lock when it is shipped or completed).
"""
from __future__ import annotations

from sqlalchemy import select

from storefront.database import lock_row
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.plugins import hookimpl

from .models import OPEN_STATUSES, REFUND_UNSHIPPED, Case


@hookimpl
def transition_guard(obj, to, actor):
    """An open case pauses auto-confirm (and any completion); an open refund
    request on an unshipped order stops the parcel in the warehouse."""
    if not isinstance(obj, Order):
        return None
    target = OrderStatus(to)
    # Checked before any statement: the payment transition (flash-sale hot
    # path) must cost nothing here.
    if target not in (OrderStatus.COMPLETED, OrderStatus.SHIPPED):
        return None
    # Write skew on PostgreSQL (READ COMMITTED): a case being opened is not
    # visible until it commits, and transition()'s status UPDATE only waits
    # for the row, re-checking the status but not the cases. Taking the same
    # order row lock as case creation (``_insert_case``) serialises the two:
    # a case being opened is committed, and so seen, before this read, and a
    # case opened after waits until the new status is committed. transition()
    # runs inside the caller's write transaction, so the lock is held until
    # that UPDATE commits.
    lock_row(Order, obj.id)  # the lock alone: the caller has just refreshed the order
    # A column query reads what this transaction sees, not a stale object
    # (index ix_aftersales_cases_order_id_status).
    kinds = set(db.session.execute(
        select(Case.kind).where(Case.order_id == obj.id, Case.status.in_(OPEN_STATUSES))).scalars())
    if not kinds:
        return None
    if target == OrderStatus.COMPLETED:
        return _("An after-sales request is open on this order; it completes once the request is settled.")
    if REFUND_UNSHIPPED in kinds:
        return _("The buyer asked for a refund before shipment: decide the request before shipping.")
    return None


@hookimpl
def order_event(order, event):
    """An order closed elsewhere (the buyer or staff cancelled it, it was fully
    refunded) leaves its open requests nothing to decide: they close with it."""
    if event.to_status == "closed":
        from .rules import close_with_order

        close_with_order(event.order_id)

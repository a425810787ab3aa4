"""A buyer cancelling a deposit order whose deposit is paid and balance is not (DOMAIN.md §2, §3).

DOMAIN.md §3: when the balance is not paid by the window's end the order
closes and the deposit is kept or returned by the presale's setting
(default kept, unless the seller is at fault). A buyer who cancels before
the window ends is also choosing not to pay the balance, and the seller is
not at fault, so the same setting decides: otherwise cancelling one minute
before the window closes would return a deposit that waiting one minute
longer forfeits. (A seller cancellation -- the seller at fault -- always
returns it; an order whose balance is paid is an ordinary paid order and a
cancellation refunds it in full.)

DOMAIN.md §2: the buyer may always cancel before shipment; the shop only
makes sure the buyer sees what happens to the deposit before confirming.
So the core's one-click "Cancel order" is refused for such an order
(``transition_guard`` in :mod:`.always`), and the presale panel (or the
API) shows the terms and asks for an explicit confirmation, then closes the
order through the core (``keep_paid``) with a timeline entry saying what
happened to the deposit.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import select

from storefront.database import write_transaction
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.services import close_order
from storefront.orders.status import CancelReason, OrderStatus
from storefront.orders.transitions import Actor, record_event

from .models import DEPOSIT, PresaleOrder

PLUGIN_NAME = "presale"
EVENT_KIND = "presale_buyer_cancelled"

#: The order this request is cancelling through :func:`cancel_deposit_order` (the guard lets it through).
_confirmed: ContextVar[int | None] = ContextVar("presale_confirmed_cancel", default=None)


@dataclass(frozen=True)
class CancelTerms:
    deposit_paid: int  # received and not refunded
    kept: bool  # True: the shop keeps it; False: it is refunded
    currency: str


def _record(order_id: int) -> PresaleOrder | None:
    return db.session.execute(select(PresaleOrder).where(PresaleOrder.order_id == order_id)).scalar_one_or_none()


def terms_for(order: Order) -> CancelTerms | None:
    """What cancelling ``order`` now does to its deposit; None when it is not a deposit-paid, balance-unpaid order."""
    if OrderStatus(order.status) != OrderStatus.PENDING_PAYMENT:
        return None
    received = int(order.paid_total or 0) - int(order.refunded_total or 0)
    if received <= 0:
        return None
    record = _record(order.id)
    if record is None or record.mode != DEPOSIT:
        return None
    return CancelTerms(received, not bool(record.return_deposit), order.currency)


def guard_buyer_cancel(order: Order, actor) -> str | None:
    """The veto for the core's plain cancellation of a deposit-paid order (see the module docstring)."""
    if getattr(actor, "kind", None) != "buyer" or _confirmed.get() == order.id:
        return None
    # Columns as this transaction sees them (the row was just refreshed by the caller).
    row = db.session.execute(select(Order.status, Order.paid_total, Order.refunded_total)
                             .where(Order.id == order.id)).one_or_none()
    if row is None or OrderStatus(row.status) != OrderStatus.PENDING_PAYMENT \
            or int(row.paid_total or 0) - int(row.refunded_total or 0) <= 0:
        return None
    record = _record(order.id)
    if record is None or record.mode != DEPOSIT:
        return None
    return _("This presale order's deposit is paid: cancel it from the presale panel on the order page, "
             "which shows what happens to your deposit.")


def cancel_deposit_order(order: Order, user, confirm) -> CancelTerms:
    """The buyer cancels their deposit-paid order after seeing the terms (``confirm`` must be true)."""
    if user is None or not getattr(user, "is_authenticated", False) or order.user_id != user.id:
        raise NotFound(_("Order not found."))
    if confirm is not True and str(confirm).lower() not in ("1", "true", "y", "yes", "on"):
        raise ValidationFailed(_("Confirm that you have read what happens to your deposit."), field="confirm")
    actor = Actor("buyer", user.id, user.email)
    with write_transaction():
        fresh = db.session.get(Order, order.id, populate_existing=True)
        terms = terms_for(fresh)
        if terms is None:
            raise Conflict(_("This order has no paid deposit to cancel with; use the order's Cancel button."),
                           code="not_deposit_paid")
        token = _confirmed.set(fresh.id)
        try:
            # keep_paid: the core neither refunds nor counts the kept deposit as owed back.
            close_order(fresh, CancelReason.BUYER_CANCELLED, actor, _("Cancelled by the buyer"),
                        keep_paid=terms.kept)
        finally:
            _confirmed.reset(token)
        record_event(fresh, EVENT_KIND, actor=actor, source=PLUGIN_NAME, public=True,
                     data={"deposit_kept": terms.kept, "amount": terms.deposit_paid, "currency": terms.currency})
    return terms


def event_label(data: dict) -> str:
    from storefront.i18n import format_money

    amount = format_money(int(data.get("amount") or 0), data.get("currency"))
    if data.get("deposit_kept"):
        return _("Cancelled by the buyer before paying the balance: deposit of %(amount)s kept "
                 "(this presale keeps deposits when the balance is not paid)", amount=amount)
    return _("Cancelled by the buyer before paying the balance: deposit of %(amount)s returned", amount=amount)

"""Buyer messages about decisions, and the wording of the order timeline entries."""
from __future__ import annotations

from storefront.extensions import db
from storefront.i18n import format_money, gettext as _
from storefront.notify.services import queue_order_message
from storefront.orders.models import Order

from .models import Case


def _money(amount: int, currency: str) -> str:
    return format_money(int(amount or 0), currency)


def notify(case: Case, what: str) -> None:
    """Queue the buyer's message about ``case`` (in the caller's transaction, in the buyer's language)."""
    order = db.session.get(Order, case.order_id)
    if order is None:
        return
    number, currency = case.number, case.currency
    amount, method = case.amount_refunded, case.refund_method
    address, deadline = case.return_address or "", case.return_deadline

    def render() -> tuple[str, str]:
        subject = _("Your request %(number)s", number=number)
        if what == "approved":
            body = _("Your request %(number)s on order %(order)s was approved.", number=number, order=order.number)
        elif what == "awaiting_return":
            body = _("Your return %(number)s was approved. Please send the goods to: %(address)s, "
                     "and enter the tracking number before %(deadline)s.",
                     number=number, address=address, deadline=deadline.strftime("%Y-%m-%d") if deadline else "")
        elif what == "rejected":
            body = _("Your request %(number)s on order %(order)s was declined. You may reply in the request's "
                     "messages.", number=number, order=order.number)
        elif what == "refunded" and method == "credit":
            body = _("We refunded %(amount)s for your request %(number)s as store credit. It is in your store "
                     "credit balance and is spent automatically at your next checkout.",
                     amount=_money(amount, currency), number=number)
        elif what == "refunded":
            body = _("We refunded %(amount)s for your request %(number)s.", amount=_money(amount, currency),
                     number=number)
        elif what == "reshipped":
            body = _("The replacement for your request %(number)s is on its way.", number=number)
        elif what == "closed":
            body = _("Your request %(number)s was closed because the return was not posted in time.",
                     number=number)
        elif what == "message":
            body = _("The shop replied to your request %(number)s.", number=number)
        else:
            body = _("Your request %(number)s was updated.", number=number)
        return subject, body

    queue_order_message(order, f"aftersales_{what}", render)


_LABELS = {
    "aftersales_requested": lambda: _("After-sales request opened"),
    "aftersales_escalated": lambda: _("After-sales request escalated to the shop owner"),
    "aftersales_approved": lambda: _("After-sales request approved"),
    "aftersales_auto_approved": lambda: _("After-sales request approved automatically"),
    "aftersales_rejected": lambda: _("After-sales request declined"),
    "aftersales_cancelled": lambda: _("After-sales request cancelled by the buyer"),
    "aftersales_return_posted": lambda: _("Return parcel posted by the buyer"),
    "aftersales_arrived": lambda: _("Return parcel arrived at the shop"),
    "aftersales_inspected": lambda: _("Returned goods inspected"),
    # Written before arrival and inspection were separate steps.
    "aftersales_received": lambda: _("Returned goods received and inspected"),
    "aftersales_refunded": lambda: _("After-sales refund made"),
    "aftersales_auto_refunded": lambda: _("After-sales refund made automatically"),
    "aftersales_reshipped": lambda: _("Replacement shipped"),
    "aftersales_closed": lambda: _("After-sales request closed: the return was not posted in time"),
    "aftersales_refund_failed": lambda: _("After-sales refund failed"),
    "aftersales_closed_with_order": lambda: _("After-sales request closed together with the order"),
}


def event_label(event) -> str | None:
    kind = getattr(event, "kind", "")
    label = _LABELS.get(kind)
    if label is None:
        return None
    text = label()
    data = getattr(event, "data", None) or {}
    if kind in ("aftersales_refunded", "aftersales_auto_refunded") and data.get("method") == "credit":
        text = _("After-sales refund of %(amount)s paid as store credit",
                 amount=_money(int(data.get("amount") or 0), data.get("currency")))
    number = (getattr(event, "data", None) or {}).get("case")
    return f"{text} ({number})" if number else text

"""Labels in the reader's language, and markup for slots and the dashboard widget."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from storefront.context_objects import user_object
from storefront.plugins.types import Widget

KIND_LABELS = {
    "refund_unshipped": _l("Refund (not shipped)"),
    "refund_shipped": _l("Refund only (shipped)"),
    "return_refund": _l("Return and refund"),
    "exchange": _l("Exchange / reshipment"),
}
STATUS_LABELS = {
    "requested": _l("Requested"),
    "approved": _l("Approved, refund pending"),
    "awaiting_return": _l("Approved, waiting for the return parcel"),
    "returning": _l("Return on its way"),
    "arrived": _l("Return arrived, being inspected"),
    "inspected": _l("Return inspected, refund pending"),
    "refunded": _l("Refunded"),
    "reshipped": _l("Replacement shipped"),
    "rejected": _l("Declined"),
    "cancelled": _l("Cancelled"),
    "closed": _l("Closed"),
}
REASON_LABELS = {
    "quality": _l("Quality problem"),
    "not_as_described": _l("Not as described"),
    "wrong_item": _l("Wrong item"),
    "missing_item": _l("Missing item"),
    "damaged": _l("Damaged"),
    "not_received": _l("Not received"),
    "late_shipment": _l("Late shipment"),
    "out_of_stock": _l("Out of stock"),
    "price_difference": _l("Price difference"),
    "changed_mind": _l("Changed my mind (7-day no-reason return)"),
}
CATEGORY_LABELS = {
    "back_office": _l("Back-office handling"),
    "tracking": _l("Parcel tracking enquiry"),
    "difficult": _l("Difficult case"),
    "complaint": _l("Complaint"),
}
EVENT_LABELS = {
    "requested": _l("Request opened"),
    "escalated": _l("Escalated to the shop owner"),
    "approved": _l("Approved"),
    "auto_approved": _l("Approved automatically"),
    "rejected": _l("Declined"),
    "cancelled": _l("Cancelled by the buyer"),
    "return_posted": _l("Return posted"),
    "arrived": _l("Return parcel arrived"),
    "inspected": _l("Return inspected"),
    # Cases received before arrival and inspection were separate steps.
    "received": _l("Return received and inspected"),
    "refunded": _l("Refunded"),
    "auto_refunded": _l("Refunded automatically"),
    "refund_failed": _l("Refund failed"),
    "reshipped": _l("Replacement shipped"),
    "closed": _l("Closed: return not posted in time"),
    "closed_with_order": _l("Closed together with the order"),
    "message": _l("Message"),
    "evidence_added": _l("Photos added"),
    "assigned": _l("Assignment changed"),
    "note": _l("Internal note"),
    "auto_confirm_extended": _l("Order auto-confirm extended"),
}
ACTOR_LABELS = {"buyer": _l("Buyer"), "staff": _l("Staff"), "system": _l("Automatic rule")}


def labels() -> dict:
    return {"kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, "reason_labels": REASON_LABELS,
            "category_labels": CATEGORY_LABELS, "event_labels": EVENT_LABELS, "actor_labels": ACTOR_LABELS}


def order_panel(order, staff_page: bool = False) -> Markup | None:
    if order is None:
        return None
    from .cases import kinds_for
    from .services import cases_of_order

    cases = cases_of_order(order.id)
    # Every request of the order is in ``cases``: an open one is among them, no second query.
    can_request = (not staff_page and getattr(user_object(), "is_authenticated", False)
                   and user_object().id == order.user_id and bool(kinds_for(order))
                   and not any(case.is_open for case in cases))
    if not cases and not can_request:
        return None
    return Markup(render_template("aftersales/order_panel.html", order=order, cases=cases, staff_page=staff_page,
                                  can_request=can_request, **labels()))


def queue_widget() -> Widget:
    from .queue import open_counts

    counts = open_counts()
    return Widget(title=str(_l("After-sales")),
                  html=Markup(render_template("aftersales/widget.html", counts=counts)), order=30)

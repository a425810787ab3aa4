"""Words for order timeline entries, translated when a page renders them.

Timeline rows store codes (kind, statuses, close reason) so that each reader
sees them in their own language; this module turns them into sentences.
"""
from __future__ import annotations

from ..i18n import gettext as _
from ..plugins.host import get_host
from .status import CANCEL_REASON_LABELS, STATUS_LABELS, CancelReason, OrderStatus


def status_label(status) -> str:
    try:
        return str(STATUS_LABELS[OrderStatus(status)])
    except ValueError:
        return str(status)


def close_reason_label(code) -> str:
    try:
        return str(CANCEL_REASON_LABELS[CancelReason(code)])
    except ValueError:
        return str(code or "")


def describe_event(event) -> str:
    data = event.data or {}
    if event.kind == "status":
        text = _("Status: %(status)s", status=status_label(event.to_status))
        if event.to_status == OrderStatus.CLOSED.value and data.get("close_reason"):
            text = _("%(text)s (%(reason)s)", text=text, reason=close_reason_label(data["close_reason"]))
        if event.to_status == OrderStatus.COMPLETED.value and data.get("auto"):
            text = _("Receipt confirmed automatically")
        return text
    if event.kind == "note":
        return _("Note")
    if event.kind == "payment_reminder":
        return _("The shop reminded the buyer to pay")
    if event.kind == "auto_confirm_extended":
        return _("Automatic confirmation extended by %(days)s days", days=data.get("days", ""))
    if event.kind == "refund":
        return _("Refund")
    if event.kind == "refund_failed":
        return _("Refund failed: retry it from the payment")
    labels = get_host().call_safely("order_event_label", include_disabled=True, first=True, event=event)
    if labels:
        return str(labels[0])
    return event.kind.replace("_", " ").capitalize()

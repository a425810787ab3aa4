"""Timeline sentences for the events this plugin records (``order_event_label`` hook).

Asked also while the plugin is disabled, so the wording of old timelines
stays; only the event row is read (the store name is kept in its data).
"""
from __future__ import annotations

from storefront.i18n import gettext as _


KINDS = ("pickup_ready", "pickup_reminder", "pickup_collected", "pickup_uncollected", "pickup_released")


def event_label(event) -> str | None:
    kind = getattr(event, "kind", None)
    if kind not in KINDS:
        return None
    data = getattr(event, "data", None) or {}
    store = data.get("store") or ""
    if kind == "pickup_ready":
        if store:
            return _("Ready for pickup at %(store)s; the buyer was sent the pickup code", store=store)
        return _("Ready for pickup; the buyer was sent the pickup code")
    if kind == "pickup_reminder":
        return _("The buyer was reminded to collect the order")
    if kind == "pickup_collected":
        if data.get("reconciled"):
            return _("Marked collected: the order was completed while store pickup was switched off")
        if store:
            return _("Collected at %(store)s", store=store)
        return _("Collected in store")
    if kind == "pickup_uncollected":
        return _("Not collected in time: the pickup was cancelled and the order refunded")
    return _("Pickup time and store stock given back")

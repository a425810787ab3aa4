"""Words for presale timeline entries and buyer notifications, in the reader's language."""
from __future__ import annotations

from storefront.i18n import format_money, gettext as _

from .models import DEPOSIT
from .services import balance_of, order_promise, presale_order
from .times import when_text


def event_label(event) -> str | None:
    data = event.data or {}
    if event.kind == "presale_balance_open":
        return _("The balance window opened; the buyer was reminded")
    if event.kind == "presale_balance_reminder":
        return _("The buyer was reminded that the balance window closes soon")
    if event.kind == "presale_balance_unpaid":
        amount = format_money(int(data.get("amount") or 0))
        if data.get("deposit_kept"):
            return _("Balance not paid in time: order closed, deposit of %(amount)s kept "
                     "(this presale keeps deposits when the balance is not paid)", amount=amount)
        return _("Balance not paid in time: order closed, deposit of %(amount)s returned "
                 "(this presale returns deposits when the balance is not paid)", amount=amount)
    if event.kind == "presale_buyer_cancelled":
        from .cancel import event_label as cancelled

        return cancelled(data)
    if event.kind == "part_paid" and presale_order(event.order_id) is not None:
        return _("Deposit received: %(amount)s", amount=format_money(int(data.get("amount") or 0)))
    return None


def notification_lines(order, kind) -> list[str] | None:
    record = presale_order(order.id)
    if record is None:
        return None
    lines = [_("Presale: %(promise)s", promise=order_promise(record))]
    if record.mode == DEPOSIT and kind in ("order_payment_reminder", "order_closed", "order_paid"):
        info = balance_of(order)
        if info is not None and info.state in ("waiting", "open"):
            lines.append(_("Balance %(amount)s due between %(start)s and %(end)s (shop time).",
                           amount=format_money(info.balance, order.currency), start=when_text(info.opens_at),
                           end=when_text(info.closes_at)))
    return lines

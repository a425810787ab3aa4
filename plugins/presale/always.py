"""Hooks that serve presale orders already sold, whether or not the plugin is enabled.

The manifest's ``lasting_hooks``: the host calls them whatever the plugin's
switch says, so switching the plugin off stops new
presale purchases and hides the labels (:mod:`.hooks`) while existing
orders keep their ship promise, their balance window (reminders, the
closing sweep, the pay-balance panel) and give their quota back. Every
function here acts only on orders that have a ``presale_orders`` row.
"""
from __future__ import annotations

from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.plugins import hookimpl

# Imported here, not in the hooks: the payment of every presale order asks.
from . import labels, services


@hookimpl
def transition_guard(obj, to, actor):
    """A buyer cancels a deposit-paid order from the presale panel, which shows what
    happens to the deposit first (cancel.py); the core's one-click cancel is refused."""
    if not isinstance(obj, Order) or OrderStatus(to) != OrderStatus.CLOSED:
        return None
    from .cancel import guard_buyer_cancel

    return guard_buyer_cancel(obj, actor)


@hookimpl(tryfirst=True)
def ship_promise(order, paid_at):
    return services.order_ship_by(order, paid_at)


@hookimpl
def order_event(order, event):
    if event.to_status == "closed":
        from .services import release_order

        release_order(event.order_id)
    elif event.kind == "part_paid":
        from .services import balance_deadline_on_order

        balance_deadline_on_order(event.order_id)


@hookimpl
def sweep(now):
    from .sweeps import run

    return run(now)


@hookimpl
def template_slot(name, context):
    if name in ("order_page", "order_admin"):
        from .render import order_panel

        return order_panel(context.get("order"), staff_page=name == "order_admin")
    return None


@hookimpl
def notification_lines(order, kind):
    return labels.notification_lines(order, kind)

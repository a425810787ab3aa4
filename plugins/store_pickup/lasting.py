"""Hooks that serve pickups already placed, whether or not the plugin is enabled.

The manifest's ``lasting_hooks``: switching store pickup off removes the
checkout option, but an order placed for pickup must still be prepared,
handed over at the counter and shown to its buyer, and must not be "shipped"
by the core. Each hook acts only on orders that have a pickup record.
"""
from __future__ import annotations

from sqlalchemy import select

from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.plugins import MenuItem, hookimpl

from .models import COLLECTED, READY, Pickup


@hookimpl
def transition_guard(obj, to, actor):
    """A pickup order ships by being marked ready and completes by being collected."""
    target = OrderStatus(to)
    if not isinstance(obj, Order) or target not in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        return None
    # A column query reads the row as this transaction sees it (not a stale identity-map object).
    status = db.session.execute(select(Pickup.status).where(Pickup.order_id == obj.id)).scalar()
    if status is None:
        return None
    if target == OrderStatus.SHIPPED and status != READY:
        return _("A store pickup order is not shipped: mark it ready for pickup instead.")
    if target == OrderStatus.COMPLETED and status != COLLECTED:
        return _("A store pickup order completes when it is collected at the store.")
    return None


@hookimpl
def order_event(order, event):
    if event.to_status == "closed":
        from .pickups import release_for_closed_order

        release_for_closed_order(event.order_id)


@hookimpl
def order_event_label(event):
    from .labels import event_label

    return event_label(event)


@hookimpl
def template_slot(name, context):
    if name in ("order_page", "order_admin"):
        from .render import order_panel

        return order_panel(context.get("order"), staff_page=name == "order_admin")
    return None


@hookimpl
def admin_menu(user):
    from storefront.plugins.host import get_host

    from .pickups import open_pickups
    from .services import PLUGIN_NAME

    if not getattr(user, "is_staff", False):
        return None
    # Switched off, the menu entry stays while pickups placed before wait for the counter.
    if get_host().is_enabled(PLUGIN_NAME) or open_pickups(limit=1):
        return [MenuItem(_("Store pickup"), "store_pickup_admin.index", order=55)]
    return None

"""Hook implementations of the cases side (only called while the plugin is enabled,
except ``configure``, ``api_routes`` and ``order_event_label``)."""
from __future__ import annotations

from flask_babel import gettext as _

from storefront.plugins import MenuItem, hookimpl


@hookimpl
def transition_guard(obj, to, actor):
    """An open case pauses auto-confirm (and any completion); an open refund
    request on an unshipped order stops the parcel in the warehouse."""
    from sqlalchemy import select

    from storefront.extensions import db
    from storefront.orders.models import Order
    from storefront.orders.status import OrderStatus

    from .models import OPEN_STATUSES, REFUND_UNSHIPPED, Case

    if not isinstance(obj, Order):
        return None
    target = OrderStatus(to)
    if target not in (OrderStatus.COMPLETED, OrderStatus.SHIPPED):
        return None
    # A column query reads what this transaction sees, not a stale object.
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
    if event.to_status == "closed":
        from .rules import close_with_order

        close_with_order(order.id)


@hookimpl
def sweep(now):
    from .rules import sweep as run

    return run(now)


@hookimpl
def order_event_label(event):
    from .notices import event_label

    return event_label(event)


@hookimpl
def template_slot(name, context):
    if name in ("order_page", "order_admin"):
        from .render import order_panel

        return order_panel(context.get("order"), staff_page=name == "order_admin")
    return None


@hookimpl
def account_menu(user):
    if getattr(user, "is_authenticated", False):
        return [MenuItem(_("Refunds & returns"), "aftersales.index", order=40)]
    return None


@hookimpl
def admin_menu(user):
    if getattr(user, "is_staff", False):
        return [MenuItem(_("After-sales"), "aftersales_admin.queue", order=35)]
    return None


@hookimpl
def dashboard_widgets(user):
    if not getattr(user, "is_staff", False):
        return None
    from .render import queue_widget

    return [queue_widget()]


@hookimpl
def api_routes(api):
    from storefront.plugins.host import register_plugin_api

    from .api import blp, staff_blp

    register_plugin_api(api, "aftersales", blp, "/aftersales")
    register_plugin_api(api, "aftersales", staff_blp, "/admin/aftersales")


@hookimpl
def demo_data(now):
    from .demo import add_demo_cases

    add_demo_cases(now)

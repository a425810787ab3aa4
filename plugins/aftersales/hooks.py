"""Hook implementations of the cases side (only called while the plugin is enabled,
except ``configure``, ``api_routes`` and ``order_event_label``).

``transition_guard`` and closing requests with their order live in
:mod:`.lasting` (the manifest's ``lasting_hooks``): open requests still hold
their order while the plugin is switched off."""
from __future__ import annotations

from storefront.i18n import gettext as _
from storefront.plugins import MenuItem, hookimpl


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

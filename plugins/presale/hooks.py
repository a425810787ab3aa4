"""Hook implementations of the presale plugin that run only while it is enabled:
selling (offers, checkout checks, quota, deposit), labels and the seller's pages.

What existing presale orders need whether or not the plugin is enabled (ship
promise, balance window sweeps, quota release, order panel, notification
lines) lives in :mod:`.always` (the manifest's ``lasting_hooks``).
"""
from __future__ import annotations

from storefront.i18n import gettext as _
from storefront.plugins import MenuItem, hookimpl

# Imported here, not in the hooks: these run on every cart and checkout request.
from . import lookup, render, services


@hookimpl
def product_offer(product, sku, buyer):
    return services.product_offer(product, sku, buyer)


@hookimpl
def prefetch_offers(skus, buyer):
    lookup.prefetch_campaigns([sku.id for sku in skus])


@hookimpl
def cart_adjustments(cart, lines, subtotal, buyer, delivery, address):
    return services.cart_adjustments(lines)


@hookimpl
def validate_checkout(checkout):
    return services.validate_checkout(checkout)


@hookimpl
def order_placing(order, checkout):
    services.order_placing(order, checkout)


@hookimpl
def payment_due(order, checkout):
    return services.payment_due(order)


@hookimpl
def template_slot(name, context):
    if name == "checkout_summary":
        return render.checkout_notice(context.get("checkout"))
    return None


@hookimpl
def order_event_label(event):
    from .labels import event_label

    return event_label(event)


@hookimpl
def admin_menu(user):
    if getattr(user, "is_staff", False):
        return [MenuItem(_("Presale"), "presale_admin.index", order=45)]
    return None


@hookimpl
def api_routes(api):
    from storefront.plugins.host import register_plugin_api

    from .api import blp, orders_blp

    register_plugin_api(api, "presale", blp, "/presale")
    # Balance payment and order info stay up while disabled (existing orders);
    # their own guard answers 404 for orders without a presale record.
    register_plugin_api(api, "presale", orders_blp, "/presale/orders", lasting=True)


@hookimpl
def demo_data(now):
    from .demo import seed

    seed(now)

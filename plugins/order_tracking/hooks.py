"""Hook implementations of the order tracking plugin (only called while it is enabled)."""
from __future__ import annotations

from datetime import timedelta

from storefront.i18n import gettext as _
from storefront.plugins import MenuItem, hookimpl


@hookimpl
def order_event(order, event):
    if event.kind == "status" and event.to_status == "shipped":
        from .services import parcel_on_shipped

        parcel_on_shipped(order)


@hookimpl
def template_slot(name, context):
    if name in ("order_page", "order_admin") and context.get("order") is not None:
        from flask import render_template
        from markupsafe import Markup

        # Our own autoescaped template: its output is already safe markup.
        return Markup(render_template("order_tracking/slot.html", order=context["order"],
                                      admin=name == "order_admin"))
    return None


@hookimpl
def admin_menu(user):
    if getattr(user, "is_staff", False):
        return [MenuItem(_("Carriers"), "order_tracking_admin.carriers", order=70),
                MenuItem(_("Stuck parcels"), "order_tracking_admin.stuck", order=71)]
    return None


@hookimpl
def api_routes(api):
    from storefront.plugins.host import register_plugin_api

    from .api import blp

    register_plugin_api(api, "order_tracking", blp, "/tracking")


@hookimpl
def demo_data(now):
    """Preset carriers, and parcels with events for the demo's shipped orders (caller commits)."""
    from sqlalchemy import select

    from storefront.extensions import db
    from storefront.orders.models import Order
    from storefront.orders.status import OrderStatus

    from .carriers import _preset_rows, carrier_for_name, registry_is_empty
    from .models import Parcel, ParcelEvent

    if registry_is_empty():
        db.session.add_all(_preset_rows())
        db.session.flush()
    orders = db.session.execute(select(Order).where(Order.status == OrderStatus.SHIPPED)
                                .order_by(Order.id).limit(20)).scalars()
    for i, order in enumerate(orders):
        if not order.tracking_number:
            continue
        shipped = order.shipped_at or now - timedelta(days=2)
        carrier = carrier_for_name(order.carrier)
        parcel = Parcel(order_id=order.id, carrier_code=carrier.code if carrier else "",
                        carrier_name=order.carrier or "", tracking_number=order.tracking_number,
                        created_at=shipped, last_event_at=shipped, last_status="")
        db.session.add(parcel)
        db.session.flush()
        if i % 3 == 2:
            continue  # left without news: shows on the stuck list after a few days
        steps = [("in_transit", 6, "Shenzhen", "Picked up by courier"),
                 ("in_transit", 20, "Shanghai hub", "Arrived at sorting centre")]
        if i % 3 == 1:
            steps.append(("out_for_delivery", 30, "Shanghai", "Out for delivery"))
        for n, (status, hours, place, text) in enumerate(steps):
            at = min(shipped + timedelta(hours=hours), now)
            db.session.add(ParcelEvent(parcel_id=parcel.id, at=at, status=status, location=place,
                                       description=text, source="staff", external_id=f"demo-{parcel.id}-{n}"))
            parcel.last_event_at, parcel.last_status = at, status


@hookimpl
def notification_lines(order, kind):
    """Put the signed tracking link in the shipped notification (no sign-in needed to open it)."""
    if kind != "order_shipped":
        return None
    from flask import current_app, has_request_context

    from .tracking import signed_tracking_url

    # Outside a request (a worker) url_for can only build an absolute URL
    # when SERVER_NAME is configured; without it the link is left out.
    if not has_request_context() and not current_app.config.get("SERVER_NAME"):
        return None
    return _("Track your parcel: %(url)s", url=signed_tracking_url(order))

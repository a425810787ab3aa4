"""Hook implementations of the store pickup plugin that run only while it is
enabled: the checkout option, its checks and reservations, sweeps and the API.
What pickups already placed need whatever the switch says (status guard,
release on close, timeline wording, order panel, staff menu) is in
:mod:`.lasting`."""
from __future__ import annotations

from storefront.plugins import hookimpl

# Imported here, not in the hooks: these run on every cart and checkout request.
from . import render, services


@hookimpl
def delivery_options(cart, address, buyer, wanted):
    if wanted is not None and wanted != services.OPTION_CODE:
        return None  # an order placed for another option: no need to read the stores' stock
    option = services.delivery_option(getattr(cart, "lines", None))
    return [option] if option is not None else None


@hookimpl(wrapper=True, specname="delivery_options")
def pickup_option_last(cart, address, buyer):
    # Without a remembered choice the checkout preselects the first option:
    # pickup is offered after the courier so the shop's default stays delivery.
    results = yield
    mine = [r for r in results if _is_pickup_result(r)]
    return [r for r in results if not _is_pickup_result(r)] + mine


def _is_pickup_result(result) -> bool:
    return isinstance(result, list) and any(getattr(o, "source", None) == services.PLUGIN_NAME for o in result)


@hookimpl
def validate_checkout(checkout):
    return services.validate_checkout(checkout)


@hookimpl
def order_placing(order, checkout):
    services.order_placing(order, checkout)


@hookimpl
def sweep(now):
    from .sweeps import sweep as run

    return run(now)


@hookimpl
def template_slot(name, context):
    if name == "checkout_delivery":
        return render.checkout_fields(context.get("checkout"))
    return None


@hookimpl
def api_routes(api):
    from storefront.plugins.host import register_plugin_api

    from .api import blp

    register_plugin_api(api, "store_pickup", blp, "/pickup")


@hookimpl
def demo_data(now):
    from storefront.extensions import db

    from .models import Location
    from .services import validate_location

    week = {str(d): "10:00-22:00" for d in range(7)}
    for data in (
        {"name": "Shanghai Jing'an store", "address": "1601 Nanjing West Road, Jing'an District",
         "city": "Shanghai", "province": "Shanghai", "phone": "+86 21 6288 0000",
         "map_url": "https://www.openstreetmap.org/search?query=1601%20Nanjing%20West%20Road%20Shanghai",
         "hours": week, "prep_minutes": 120, "slot_minutes": 60, "slot_capacity": 20},
        {"name": "Hanoi Hoàn Kiếm store", "address": "25 Tràng Tiền, Hoàn Kiếm",
         "city": "Hà Nội", "province": "Hà Nội", "phone": "+84 24 3825 0000",
         "map_url": "https://www.openstreetmap.org/search?query=25%20Trang%20Tien%20Hanoi",
         "hours": {**{str(d): "08:30-21:00" for d in range(6)}, "6": "09:00-18:00"},
         "prep_minutes": 90, "slot_minutes": 30, "slot_capacity": 8},
    ):
        db.session.add(Location(**validate_location(data)))

"""The core's own ``trylast`` hook implementations: behaviour plugins may replace."""
from __future__ import annotations

from datetime import timedelta

from .i18n import gettext as _
from .plugins import DeliveryOption, hookimpl
from .settings import get_setting


@hookimpl(trylast=True)
def delivery_options(cart, address, buyer):
    return [DeliveryOption(code="courier", label=_("Courier"), fee=int(get_setting("courier_fee")),
                           source="core", description=_("Delivered to your address"))]


@hookimpl(trylast=True)
def ship_promise(order, paid_at):
    return paid_at + timedelta(hours=int(get_setting("ship_within_hours")))


@hookimpl(trylast=True)
def payment_provider(name):
    from .payments.providers import TestProvider

    if name == TestProvider.name:
        return TestProvider()
    return None


@hookimpl(trylast=True)
def sweep(now):
    from .orders.sweeps import run_core_sweeps

    return run_core_sweeps(now)

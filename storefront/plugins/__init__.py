"""The plugin host. Plugins import only this package's public names."""
import pluggy

from .types import (Adjustment, Badge, CheckoutGroup, DeliveryOption, MenuItem, Offer,
                    OrderEventInfo, Plugin, Problem, Widget)

hookimpl = pluggy.HookimplMarker("storefront")

__all__ = ["hookimpl", "Plugin", "Adjustment", "Badge", "CheckoutGroup", "DeliveryOption",
           "MenuItem", "Offer", "OrderEventInfo", "Problem", "Widget", "hooks"]


def hooks():
    """The current app's hook caller proxy (only enabled plugins are called)."""
    from .host import get_host

    return get_host().hook

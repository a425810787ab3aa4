"""The plugin host. Plugins import only this package's public names."""
import pluggy

from .types import (PRESELECTED, Adjustment, Badge, CheckoutGroup, DeliveryOption, MenuItem, Offer,
                    OrderEventInfo, Plugin, Problem, Widget)
from .memo import forget_request_memo, request_memo

hookimpl = pluggy.HookimplMarker("storefront")

__all__ = ["hookimpl", "Plugin", "Adjustment", "Badge", "CheckoutGroup", "DeliveryOption",
           "MenuItem", "Offer", "OrderEventInfo", "PRESELECTED", "Problem", "Widget", "hooks",
           "request_memo", "forget_request_memo"]


def hooks():
    """The current app's hook caller proxy (only enabled plugins are called)."""
    from .host import get_host

    return get_host().hook

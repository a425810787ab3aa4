"""Hook implementations of the free-shipping plugin (only called while it is enabled)."""
from __future__ import annotations

from storefront.plugins import hookimpl


# A wrapper sees every other plugin's adjustments, so the threshold can be
# compared with the amount after discounts; tryfirst makes it the outermost wrapper.
@hookimpl(wrapper=True, tryfirst=True)
def cart_adjustments(lines, subtotal, delivery, address):
    from .services import shipping_adjustment

    results = yield
    results = list(results or [])
    adjustment = shipping_adjustment(lines, subtotal, delivery, address, results)
    if adjustment is not None:
        results.append([adjustment])
    return results


@hookimpl
def template_slot(name, context):
    if name == "cart_summary":
        from .render import cart_hint

        return cart_hint(context.get("breakdown"))
    if name == "product_page":
        from .render import mini_hint

        return mini_hint()
    return None

"""Hook implementations of the free-shipping plugin (only called while it is enabled)."""
from __future__ import annotations

from storefront.plugins import hookimpl

# Imported here, not in the hooks: these run on every cart and product page.
from . import render, services


# A wrapper sees every other plugin's adjustments, so the threshold can be
# compared with the amount after discounts; tryfirst makes it the outermost wrapper.
@hookimpl(wrapper=True, tryfirst=True)
def cart_adjustments(lines, subtotal, delivery, address):
    results = yield
    results = list(results or [])
    adjustment = services.shipping_adjustment(lines, subtotal, delivery, address, results)
    if adjustment is not None:
        results.append([adjustment])
    return results


@hookimpl
def template_slot(name, context):
    if name == "cart_summary":
        return render.cart_hint(context.get("breakdown"))
    if name == "product_page":
        return render.mini_hint()
    return None

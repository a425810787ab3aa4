from __future__ import annotations

from markupsafe import Markup

from storefront.plugins import Badge, Offer, Widget, hookimpl

#: Names of the hooks called, so tests can tell whether a disabled plugin is silent.
CALLS: list[str] = []


@hookimpl
def template_slot(name, context):
    CALLS.append("template_slot")
    if name == "sample_slot":
        return Markup('<span class="sample-slot">SAMPLE-SLOT</span>')
    return None


@hookimpl
def product_offer(product, sku, buyer):
    CALLS.append("product_offer")
    return Offer(source="sample", badges=(Badge("Sample badge", source="sample"),))


@hookimpl
def dashboard_widgets(user):
    CALLS.append("dashboard_widgets")
    return [Widget(title="Sample widget", html=Markup("<b>sample-widget-body</b>"))]

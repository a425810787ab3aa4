"""A plugin defined by the tests of the plugin host (tests/test_plugin_host.py).

Loaded through ``STOREFRONT_PLUGINS=["tests.host_fixture_plugin"]``. It
records every hook call in ``CALLS`` and fails on demand (``FAIL``) so the
tests can see whether, and how safely, the host calls it.
"""
from __future__ import annotations

from flask import Blueprint
from markupsafe import Markup

from storefront.plugins import Badge, Offer, Plugin, hookimpl

NAME = "hostfixture"
CALLS: list[str] = []
FAIL: set[str] = set()


class Hooks:
    @hookimpl
    def product_offer(self, product, sku, buyer):
        CALLS.append("product_offer")
        if "product_offer" in FAIL:
            raise RuntimeError("product_offer broke")
        return Offer(source=NAME, badges=(Badge("Fixture badge", source=NAME),))

    @hookimpl
    def template_slot(self, name, context):
        CALLS.append(f"template_slot:{name}")
        if "template_slot" in FAIL:
            raise RuntimeError("template_slot broke")
        if name == "fixture_slot":
            return Markup("<b class='fixture'>fixture slot</b> ") + context.get("who", "")
        if name == "fixture_text":  # plain text, not markup: the slot must escape it
            return context.get("text", "")
        return None


bp = Blueprint(NAME, __name__)


@bp.get("/hello")
def hello():
    return "hello from the fixture plugin"


plugin = Plugin(name=NAME, title="Host fixture", version="1.0", hooks=Hooks(),
                blueprints=[bp])


def reset() -> None:
    CALLS.clear()
    FAIL.clear()

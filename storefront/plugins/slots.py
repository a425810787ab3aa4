"""Template slots: ``{{ slot('product_page', product=product) }}`` in any template."""
from __future__ import annotations

from markupsafe import Markup, escape

from .host import flatten, get_host


def render_slot(name: str, **context) -> Markup:
    host = get_host()
    parts = flatten(host.call_safely("template_slot", name=name, context=context))
    return Markup("").join(p if isinstance(p, Markup) else escape(p) for p in parts)

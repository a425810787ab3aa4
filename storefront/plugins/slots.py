"""Template slots: ``{{ slot('product_page', product=product) }}`` in any template."""
from __future__ import annotations

from markupsafe import Markup, escape

from ..pagecache import HOLE_SLOTS, hole_marker, rendering_holes
from .host import flatten, get_host


def render_slot(name: str, **context) -> Markup:
    # While a page for the page cache is rendered, the context-free slots whose
    # content depends on the visitor (promo popups: caps, A/B variant) become
    # holes, filled per request when the page is served (storefront.pagecache).
    if not context and name in HOLE_SLOTS and rendering_holes():
        return Markup(hole_marker(name))
    host = get_host()
    parts = flatten(host.call_safely("template_slot", name=name, context=context))
    if len(parts) == 1 and isinstance(parts[0], Markup):
        # Mostly one plugin answers: its markup as it is. A join copies it twice (the join,
        # then Markup), and the checkout's pickup chooser is 13 kB of options.
        return parts[0]
    return Markup("").join(p if isinstance(p, Markup) else escape(p) for p in parts)

"""Server-side SVG charts: no JavaScript, no CDN, readable on a phone.

The dashboard (and plugins, e.g. the after-sales metrics) draw small bar
charts from lists of numbers. The markup is built here from numbers and
escaped labels only, so it is returned as :class:`markupsafe.Markup`.

Accessibility and small screens:

* ``role="img"`` with ``aria-labelledby`` pointing at the ``<title>`` and
  ``<desc>`` (a one-sentence summary: range, total, highest day), and every
  bar carries its own ``<title>`` (shown as a tooltip, read by screen readers);
* a ``viewBox`` with ``width="100%"`` and no fixed height: the chart scales
  with its column. The drawing is only 400 units wide so that the 13-unit
  labels stay about 11 px on a 360 px phone; CSS (``.chart``) caps the width
  on a desktop so the text does not grow huge;
* no inline ``style`` attributes (the Content-Security-Policy forbids them).
"""
from __future__ import annotations

import secrets
from typing import Callable, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 400, 170
PAD_X, PAD_BOTTOM, PAD_TOP = 6, 22, 20
FONT = 13


def _id() -> str:
    # Several charts on one page need distinct ids for aria-labelledby.
    return "chart-" + secrets.token_hex(4)


def bar_chart(labels: Sequence[str], values: Sequence[int | None], *, title: str, desc: str = "",
              fmt: Callable[[int], str] = str, css_class: str = "", with_total: bool = True) -> Markup:
    """One bar per label (usually a day); ``None`` means "no data" (a dot on the axis).

    ``fmt`` turns a value into text for tooltips and the scale (money,
    percentages...). ``desc`` is the summary a screen reader reads; when empty
    one is made from the numbers (``with_total=False`` for rates, whose sum
    means nothing).
    """
    labels = [str(label) for label in labels]
    values = list(values)
    count = max(len(labels), 1)
    present = [v for v in values if v is not None]
    top = max(present) if present else 0
    if not desc:
        desc = describe(labels, values, fmt=fmt, with_total=with_total)
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_X * 2) / count
    bar_w = max(slot * 0.7, 1.0)
    base = HEIGHT - PAD_BOTTOM
    ident = _id()
    classes = " ".join(c for c in ("chart", css_class) if c)
    parts = [
        f'<svg class="{escape(classes)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
        f'<line x1="{PAD_X}" y1="{base}" x2="{WIDTH - PAD_X}" y2="{base}" class="chart-axis" '
        f'stroke="currentColor" stroke-width="1"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values)):
        x = PAD_X + i * slot + (slot - bar_w) / 2
        tip = f"{label}: {fmt(value)}" if value is not None else f"{label}: —"
        if value is None:
            parts.append(f'<circle cx="{x + bar_w / 2:.1f}" cy="{base}" r="1.5" class="chart-empty">'
                         f"<title>{escape(tip)}</title></circle>")
            continue
        h = (value / top * plot_h) if top > 0 else 0
        parts.append(f'<rect x="{x:.1f}" y="{base - max(h, 0.5):.1f}" width="{bar_w:.1f}" '
                     f'height="{max(h, 0.5):.1f}" class="chart-bar" fill="currentColor">'
                     f"<title>{escape(tip)}</title></rect>")
    if labels:
        parts.append(f'<text x="{PAD_X}" y="{HEIGHT - 5}" font-size="{FONT}" class="chart-label" '
                     f'fill="currentColor">{escape(labels[0])}</text>')
        if len(labels) > 1:
            parts.append(f'<text x="{WIDTH - PAD_X}" y="{HEIGHT - 5}" font-size="{FONT}" text-anchor="end" '
                         f'class="chart-label" fill="currentColor">{escape(labels[-1])}</text>')
    if present:
        parts.append(f'<text x="{PAD_X}" y="{PAD_TOP - 6}" font-size="{FONT}" class="chart-label" '
                     f'fill="currentColor">{escape(fmt(top))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def describe(labels: Sequence[str], values: Sequence[int | None], *, fmt: Callable[[int], str] = str,
             with_total: bool = True) -> str:
    """A one-sentence summary for screen readers: range, total and the highest bar."""
    from .i18n import gettext as _

    present = [(label, v) for label, v in zip(labels, values) if v is not None]
    if not labels:
        return _("No data.")
    if not present:
        return _("%(first)s to %(last)s: no data.", first=labels[0], last=labels[-1])
    best_label, best = max(present, key=lambda pair: pair[1])
    if not with_total:
        return _("%(first)s to %(last)s: highest %(best)s on %(day)s.",
                 first=labels[0], last=labels[-1], best=fmt(best), day=best_label)
    return _("%(first)s to %(last)s: total %(total)s, highest %(best)s on %(day)s.",
             first=labels[0], last=labels[-1], total=fmt(sum(v for _l, v in present)),
             best=fmt(best), day=best_label)

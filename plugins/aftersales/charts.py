"""Server-side SVG charts: no JavaScript, no CDN, scale with the page (viewBox).

The markup is built here from numbers and escaped labels only, so it is
returned as ``Markup``.
"""
from __future__ import annotations

from typing import Callable, Sequence

from flask_babel import gettext as _
from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 8, 22, 14


def bar_chart(labels: Sequence[str], values: Sequence[int | None], *, title: str,
              fmt: Callable[[int], str] = str, css_class: str = "") -> Markup:
    """One bar per label (a day); ``None`` is "no data" (no bar, a dot on the axis)."""
    count = max(len(labels), 1)
    present = [v for v in values if v is not None]
    top = max(present) if present else 0
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_LEFT * 2) / count
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="as-chart {escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH - PAD_LEFT}" y2="{HEIGHT - PAD_BOTTOM}" '
        f'class="as-chart-axis" stroke="currentColor" stroke-width="1"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values)):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        tip = f"{label}: {fmt(value)}" if value is not None else f"{label}: —"
        if value is None:
            parts.append(f'<circle cx="{x + bar_w / 2:.1f}" cy="{HEIGHT - PAD_BOTTOM}" r="1.5" '
                         f'class="as-chart-empty"><title>{escape(tip)}</title></circle>')
            continue
        h = (value / top * plot_h) if top > 0 else 0
        y = HEIGHT - PAD_BOTTOM - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" '
                     f'class="as-chart-bar" fill="currentColor"><title>{escape(tip)}</title></rect>')
    if labels:
        parts.append(f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}" font-size="11" class="as-chart-label">'
                     f"{escape(labels[0])}</text>")
        parts.append(f'<text x="{WIDTH - PAD_LEFT}" y="{HEIGHT - 6}" font-size="11" text-anchor="end" '
                     f'class="as-chart-label">{escape(labels[-1])}</text>')
    if present:
        parts.append(f'<text x="{PAD_LEFT}" y="{PAD_TOP - 3}" font-size="11" class="as-chart-label">'
                     f"{escape(fmt(top))}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def percent(bp: int | None) -> str:
    """Basis points as a percentage with two decimals, exact (no floats)."""
    if bp is None:
        return "—"
    return f"{bp // 100}.{bp % 100:02d} %"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return _("%(s)s s", s=seconds)
    if seconds < 3600:
        return _("%(m)s min", m=seconds // 60)
    hours, rest = divmod(seconds, 3600)
    if hours < 48:
        return _("%(h)s h %(m)s min", h=hours, m=rest // 60)
    days, hours = divmod(hours, 24)
    return _("%(d)s d %(h)s h", d=days, h=hours)

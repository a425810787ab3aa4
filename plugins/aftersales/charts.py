"""After-sales metric charts: drawn by the core's :mod:`storefront.charts`.

This module keeps the plugin's own names (``bar_chart``, ``percent``,
``duration``) so its pages and API do not change; the SVG itself comes from
the core so every chart in the admin looks and behaves the same (accessible
title and summary, readable on a phone).
"""
from __future__ import annotations

from typing import Callable, Sequence

from markupsafe import Markup

from storefront import charts as core_charts
from storefront.i18n import gettext as _


def bar_chart(labels: Sequence[str], values: Sequence[int | None], *, title: str,
              fmt: Callable[[int], str] = str, css_class: str = "") -> Markup:
    """One bar per label (a day); ``None`` is "no data" (no bar, a dot on the axis).

    The metrics are rates and durations, whose sum over days means nothing:
    the summary names the highest day only.
    """
    return core_charts.bar_chart(labels, values, title=title, fmt=fmt,
                                 css_class=" ".join(c for c in ("as-chart", css_class) if c), with_total=False)


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

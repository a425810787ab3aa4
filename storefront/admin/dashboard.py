"""Admin pages: dashboard."""
from __future__ import annotations

from flask import current_app, render_template, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from ..clock import utcnow
from ..orders.status import STATUS_LABELS
from ..plugins.host import flatten, get_host
from .access import staff_required
from .shell_services import dashboard_summary
from .views import bp


def admin_link(endpoint: str, **values) -> str | None:
    """URL of ``endpoint`` or ``None`` while that page does not exist (plugin or
    domain not installed): the dashboard links only to what is there."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def dashboard_widgets(user) -> list:
    """Plugin widgets, each isolated: a failing plugin is logged and skipped.

    ``Widget.html`` is escaped unless the plugin returns :class:`markupsafe.Markup`.
    """
    widgets = flatten(get_host().call_safely("dashboard_widgets", user=user))
    rendered = []
    for widget in sorted(widgets, key=lambda w: getattr(w, "order", 100)):
        html = widget.html if isinstance(widget.html, Markup) else escape(widget.html)
        rendered.append({"title": widget.title, "html": html})
    return rendered


@bp.route("/")
@staff_required
def dashboard():
    now = utcnow()
    summary = dashboard_summary(now)
    return render_template(
        "admin/dashboard.html",
        summary=summary,
        today=summary.today,
        widgets=dashboard_widgets(current_user),
        link=admin_link,
        status_labels=STATUS_LABELS,
        now=now,
    )

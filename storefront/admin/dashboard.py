"""Admin pages: dashboard."""
from __future__ import annotations

import csv
import io

from flask import Response, current_app, render_template, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from .. import charts
from ..clock import utcnow
from ..i18n import format_money, gettext as _, short_day
from ..money import Money
from ..orders.status import STATUS_LABELS
from ..plugins.host import flatten, get_host
from .access import staff_required
from .shell_services import dashboard_summary, orders_to_ship, sales_per_day
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
        **dashboard_charts(now, summary.currency),
    )


def _ship_label(bucket) -> str:
    if bucket.key == "overdue":
        return _("Overdue")
    if bucket.key == "later":
        return _("Later")
    return short_day(bucket.day)


def dashboard_charts(now, currency: str) -> dict:
    """The two dashboard charts (SVG) and their numbers for the table under each."""
    sales = sales_per_day(now, cache_seconds=current_app.config["STOREFRONT_DASHBOARD_CACHE_SECONDS"])
    ship = orders_to_ship(now)
    sales_labels = [short_day(d.day) for d in sales]
    ship_labels = [_ship_label(b) for b in ship]
    return {
        "sales": sales, "ship": ship, "sales_labels": sales_labels, "ship_labels": ship_labels,
        "sales_chart": charts.bar_chart(
            sales_labels, [d.paid for d in sales], title=_("Sales per day (paid), last 30 days"),
            fmt=lambda amount: format_money(amount, currency), css_class="chart-sales"),
        "ship_chart": charts.bar_chart(
            ship_labels, [b.orders for b in ship], title=_("Orders to ship by ship-by deadline"),
            css_class="chart-ship"),
    }


def _csv_response(name: str, header: list[str], rows) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    # A BOM so that Excel opens the file as UTF-8 (like the order export).
    filename = f"{name}-{utcnow():%Y%m%d-%H%M}.csv"
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@bp.get("/dashboard/sales.csv")
@staff_required
def dashboard_sales_csv():
    """The sales chart's numbers: one row per shop day, amounts in major units, exact."""
    currency = current_app.config["STOREFRONT_CURRENCY"]
    rows = [(d.day.isoformat(), d.orders, str(Money(d.paid, currency).decimal), currency)
            for d in sales_per_day(utcnow())]
    return _csv_response("sales-per-day", ["date", "orders", "paid_amount", "currency"], rows)


@bp.get("/dashboard/to-ship.csv")
@staff_required
def dashboard_ship_csv():
    """The orders-to-ship chart's numbers: overdue, one row per shop day, later."""
    rows = [(b.key, b.orders) for b in orders_to_ship(utcnow())]
    return _csv_response("orders-to-ship", ["ship_by", "orders"], rows)

"""Markup of the money side for template slots and the admin dashboard."""
from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from storefront.clock import utcnow


def order_panel(order, staff_page: bool = False) -> Markup | None:
    """Compensation paid and store credit spent on an order; nothing when there is neither."""
    if order is None:
        return None
    from . import compensation, credit

    rows = compensation.for_order(order.id)
    used = credit.credit_used_by_order(order.id)
    spent = credit.credit_spent_by_order(order.id)
    if not rows and not spent:
        return None
    return Markup(render_template("aftersales/money_order_panel.html", order=order, compensations=rows,
                                  credit_used=used, credit_spent=spent, staff_page=staff_page))


def dashboard_widget() -> Markup:
    from . import metrics
    from .charts import duration, percent

    rep = metrics.report(utcnow(), 30)
    return Markup(render_template("aftersales/money_widget.html", s=rep.summary, percent=percent,
                                  duration=duration))

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
    money = credit.order_credit(order.id)
    if not rows and not money.spent and not money.refunded:
        return None
    return Markup(render_template("aftersales/money_order_panel.html", order=order, compensations=rows,
                                  credit_used=money.used, credit_spent=money.spent,
                                  refunded_as_credit=money.refunded,
                                  staff_page=staff_page))


def dashboard_widget() -> Markup:
    from . import metrics
    from .charts import duration, percent

    from .credit import _settings

    # Past days come from the roll-up (metric_days.py): this costs today's orders only.
    rep = metrics.report(utcnow(), 30, first_response_minutes=int(_settings().get("first_response_minutes", 5) or 5))
    return Markup(render_template("aftersales/money_widget.html", s=rep.summary, percent=percent,
                                  duration=duration))

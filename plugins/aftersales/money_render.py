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
    sums = credit.order_credit_sums(order.id)
    # As credit.credit_used_by_order, credit_spent_by_order and credit_refunds.credit_refunded_on_order.
    spent = -sums.get("checkout", 0)
    used = spent - sums.get("checkout_return", 0)
    refunded_as_credit = sums.get("refund", 0)
    if not rows and not spent and not refunded_as_credit:
        return None
    return Markup(render_template("aftersales/money_order_panel.html", order=order, compensations=rows,
                                  credit_used=used, credit_spent=spent, refunded_as_credit=refunded_as_credit,
                                  staff_page=staff_page))


def dashboard_widget() -> Markup:
    from . import metrics
    from .charts import duration, percent

    from .credit import _settings

    # Past days come from the roll-up (metric_days.py): this costs today's orders only.
    rep = metrics.report(utcnow(), 30, first_response_minutes=int(_settings().get("first_response_minutes", 5) or 5))
    return Markup(render_template("aftersales/money_widget.html", s=rep.summary, percent=percent,
                                  duration=duration))

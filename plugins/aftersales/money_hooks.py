"""Hooks of the money side: store credit at checkout, compensation, metrics pages.

Registered with the cases side's ``hooks`` under the same plugin switch; only
called while the plugin is enabled (except ``api_routes`` and
``order_event_label``).
"""
from __future__ import annotations

from flask import current_app

from storefront.i18n import gettext as _
from storefront.plugins import MenuItem, Widget, hookimpl

# Imported here, not in the hooks: they run on every cart and checkout request, and order.
from . import compensation, credit

COMPENSATION_EVENT = "aftersales_compensation"


@hookimpl
def cart_adjustments(cart, lines, subtotal, buyer, delivery, address):
    adjustment = credit.checkout_adjustment(buyer)
    return [adjustment] if adjustment is not None else None


@hookimpl
def order_placing(order, checkout):
    credit.debit_for_order(order)


@hookimpl
def order_event(order, event):
    if event.kind == "ship_overdue":
        compensation.compensate(event.order_id, compensation.LATE)
    elif event.kind == "status" and event.to_status == "closed":
        out_of_stock = order.close_reason == "out_of_stock"  # read before a commit expires the order
        credit.return_for_closed_order(event.order_id)
        if out_of_stock:
            compensation.compensate(event.order_id, compensation.OUT_OF_STOCK)


@hookimpl
def sweep(now):
    from . import compensation, credit, metric_days

    counts = {}
    try:
        # The metrics' daily roll-up: a few bounded day aggregates per minute (metric_days.py).
        counts["aftersales_metric_days"] = metric_days.refresh(
            now, int(credit._settings().get("first_response_minutes", 5) or 5))
    except Exception:  # the metrics fall back to live aggregates; the sweep goes on
        current_app.logger.exception("after-sales metric roll-up failed")
    # These are safety nets behind order_event (missed while disabled, a crashed
    # worker); their scans are bounded but not free, so every tenth minute is plenty.
    if now.minute % 10:
        return counts
    returned = 0
    for order_id in credit.closed_orders_owed_credit(now):
        try:
            if credit.return_for_closed_order(order_id) is not None:
                returned += 1
        except Exception:  # one bad order must not stop the sweep
            current_app.logger.exception("store credit return of order %s failed", order_id)
    counts.update(compensation.sweep(now))
    counts["aftersales_credit_returned"] = returned
    return counts


@hookimpl
def template_slot(name, context):
    if name in ("order_page", "order_admin"):
        from .money_render import order_panel

        return order_panel(context.get("order"), staff_page=name == "order_admin")
    return None


@hookimpl
def order_event_label(event):
    if event.kind != COMPENSATION_EVENT:
        return None
    from storefront.i18n import format_money

    data = event.data or {}
    amount = format_money(int(data.get("amount") or 0), data.get("currency"))
    what = (_("late shipment") if data.get("kind") == "late_shipment" else _("out of stock"))
    if data.get("method") == "refund":
        return _("Compensation for %(what)s refunded: %(amount)s", what=what, amount=amount)
    return _("Compensation for %(what)s paid as store credit: %(amount)s", what=what, amount=amount)


@hookimpl
def admin_menu(user):
    if not getattr(user, "is_staff", False):
        return None
    return [MenuItem(_("After-sales metrics"), "aftersales_money_admin.metrics", order=62),
            MenuItem(_("After-sales registries"), "aftersales_money_admin.registries", order=63),
            MenuItem(_("Store credit"), "aftersales_money_admin.credit", order=64)]


@hookimpl
def account_menu(user):
    if getattr(user, "is_authenticated", False):
        return [MenuItem(_("Store credit"), "aftersales_money.index", order=16)]
    return None


@hookimpl
def dashboard_widgets(user):
    if not getattr(user, "is_staff", False):
        return None
    from .money_render import dashboard_widget

    return [Widget(title=_("After-sales, last 30 days"), html=dashboard_widget(), order=60)]


@hookimpl
def api_routes(api):
    from storefront.plugins.host import register_plugin_api

    from .money_api import blp

    register_plugin_api(api, "aftersales", blp, "/aftersales/money")


@hookimpl
def demo_data(now):
    # Rows added straight to the caller's transaction: credit.post() would commit it half-way.
    from sqlalchemy import select

    from storefront.accounts.models import User
    from storefront.extensions import db

    from .credit import shop_currency
    from .money_models import CreditBalance, CreditEntry

    buyer = db.session.execute(select(User).where(User.email == "buyer@example.com")).scalar_one_or_none()
    if buyer is None or db.session.get(CreditBalance, (buyer.id, shop_currency())) is not None:
        return
    db.session.add(CreditEntry(user_id=buyer.id, amount=2000, currency=shop_currency(), kind="adjustment",
                               note="Welcome credit", idempotency_key=f"demo-welcome-{buyer.id}",
                               actor_kind="system", actor_label="demo", created_at=now))
    db.session.add(CreditBalance(user_id=buyer.id, currency=shop_currency(), balance=2000, use_at_checkout=True,
                                 updated_at=now))

"""Markup for the template slots: the split notice at checkout, the presale panel on order pages."""
from __future__ import annotations

import uuid

from flask import render_template
from markupsafe import Markup

from storefront.clock import utcnow

from .lookup import campaign_for_sku
from .services import balance_of, presale_order, order_promise
from .times import when_text


def checkout_notice(checkout) -> Markup | None:
    """Before paying: how the checkout splits into orders, and what a deposit order charges now."""
    if checkout is None or not checkout.lines:
        return None
    now = utcnow()
    deposits = []
    for line in checkout.lines:
        found = campaign_for_sku(line.sku_id, now)
        if found is not None and found[0].mode == "deposit":
            campaign = found[0]
            deposits.append({"name": line.product_name, "deposit": int(campaign.deposit or 0) * line.quantity,
                             "opens": when_text(campaign.balance_opens_at),
                             "closes": when_text(campaign.balance_closes_at)})
    groups = list(checkout.groups or [])
    if len(groups) < 2 and not deposits:
        return None
    return Markup(render_template("presale/checkout_notice.html", groups=groups, deposits=deposits,
                                  currency=checkout.breakdown.currency))


def order_panel(order, staff_page: bool = False) -> Markup | None:
    if order is None:
        return None
    record = presale_order(order.id)
    if record is None:
        return None
    info = balance_of(order)
    from .cancel import terms_for

    return Markup(render_template("presale/order_panel.html", order=order, record=record, info=info,
                                  cancel_terms=None if staff_page else terms_for(order),
                                  promise=order_promise(record), staff_page=staff_page,
                                  opens=when_text(record.balance_opens_at),
                                  closes=when_text(record.balance_closes_at), key=uuid.uuid4().hex))

"""After-sales (售后): refund and return requests, the staff queue, auto rules,
escalation, store credit, compensation, registries and metrics."""
from __future__ import annotations

import os

from storefront.plugins import Plugin

from . import hooks, lasting, models, money_hooks
from .admin import bp as admin_bp
from .buyer import bp as buyer_bp
from .forms import DEFAULT_SETTINGS, AftersalesSettingsForm
from .money_admin import bp as money_admin_bp
from .money_buyer import bp as money_buyer_bp

plugin = Plugin(
    name="aftersales",
    title="After-sales",
    version="1.0.0",
    description="Refund, return and exchange requests with a staff queue, automatic rules and escalation; "
                "store credit, compensation for late shipment and out-of-stock, registries and metrics.",
    hooks=[hooks, money_hooks],
    # Open requests outlive the switch: they still pause auto-confirm and close with their order.
    lasting_hooks=lasting,
    blueprints=[buyer_bp, admin_bp, money_buyer_bp, money_admin_bp],
    models=models,
    migrations=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations", "versions"),
    settings_form=AftersalesSettingsForm,
    default_settings=dict(DEFAULT_SETTINGS),
)

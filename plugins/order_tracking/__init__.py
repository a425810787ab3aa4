"""Order tracking: carriers, parcels and parcel events, buyer and guest tracking pages.

See README.md for the webhook format, settings, hooks and API.
"""
from __future__ import annotations

import os

from storefront.plugins import Plugin

from . import hooks, models
from .admin import bp as admin_bp
from .buyer import bp as buyer_bp
from .forms import OrderTrackingSettingsForm
from .services import DEFAULT_SETTINGS

plugin = Plugin(
    name="order_tracking",
    title="Order tracking",
    version="1.0.0",
    description="Carrier registry, parcels and parcel events (staff and aggregator webhook), "
                "buyer and guest tracking pages, stuck-parcel list.",
    hooks=hooks,
    blueprints=[admin_bp, buyer_bp],
    models=models,
    migrations=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations", "versions"),
    settings_form=OrderTrackingSettingsForm,
    default_settings=dict(DEFAULT_SETTINGS),
)

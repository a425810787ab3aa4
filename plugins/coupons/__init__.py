"""Coupons (优惠券): codes and claimable wallet coupons, usage limits that hold under concurrency.

See README.md for the rules, stacking, settings, hooks and API.
"""
from __future__ import annotations

import os

from storefront.pagecache import watch_models
from storefront.plugins import Plugin

from . import hooks, models
from .admin import bp as admin_bp
from .buyer import bp as buyer_bp
from .forms import CouponsSettingsForm
from .services import DEFAULT_SETTINGS

watch_models(models.Coupon)  # the claimable coupons box on product pages

plugin = Plugin(
    name="coupons",
    title="Coupons",
    version="1.0.0",
    description="Percentage, fixed, spend-threshold (满减) and free-shipping coupons: codes typed at "
                "checkout and claimable coupons in a buyer's wallet, with limits and statistics.",
    hooks=hooks,
    blueprints=[admin_bp, buyer_bp],
    models=models,
    migrations=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations", "versions"),
    settings_form=CouponsSettingsForm,
    default_settings=dict(DEFAULT_SETTINGS),
)

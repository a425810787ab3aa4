"""Promo popups (推广弹窗): scheduled, targeted campaign announcements with caps and stats.

See README.md for the buyer-side cache, cookies, the coupon extension point
and the Content-Security-Policy this plugin works under.
"""
from __future__ import annotations

import os

from storefront.plugins import Plugin

from . import hooks, models
from .admin import bp as admin_bp
from .buyer import bp as buyer_bp
from .forms import PromoPopupsSettingsForm

plugin = Plugin(
    name="promo_popups",
    title="Promo popups",
    version="1.0.0",
    description="Announcement popups for campaigns (Double 11, new arrivals): schedule, pages, "
                "audience, trigger, frequency cap, A/B variants and statistics.",
    hooks=hooks,
    blueprints=[admin_bp, buyer_bp],
    models=models,
    migrations=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations", "versions"),
    settings_form=PromoPopupsSettingsForm,
    default_settings={"show_on_phones": True},
)

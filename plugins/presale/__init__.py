"""Presale (预售): labelled ship-by promises, presale quotas, full payment or deposit + balance."""
from __future__ import annotations

import os

from storefront.pagecache import watch_models
from storefront.plugins import Plugin

from . import always, hooks, models, reuse
from .admin import bp as admin_bp
from .buyer import bp as buyer_bp
from .forms import PresaleSettingsForm
from .services import DEFAULT_SETTINGS

watch_models(models.Campaign, models.Quota)  # presale badge, ship promise and quota on catalog pages
# From the start, in every process: a write here must retire the workers' copies of the
# look-ups, though this process has not served one yet (a job, a fresh worker).
reuse.presale_writes.listen()

plugin = Plugin(
    name="presale",
    title="Presale",
    version="1.0.0",
    description="Sell before stock arrives: a Presale label and an exact ship promise everywhere, quotas "
                "separate from spot stock, per-buyer limits, full payment or deposit + balance with "
                "reminders, and one order per ship promise at checkout.",
    hooks=hooks,
    blueprints=[admin_bp],
    lasting_hooks=always,
    lasting_blueprints=[buyer_bp],
    models=models,
    migrations=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations", "versions"),
    settings_form=PresaleSettingsForm,
    default_settings=dict(DEFAULT_SETTINGS),
)

"""Store pickup (到店自提): pickup locations, time slots with capacity, pickup codes and the counter."""
from __future__ import annotations

import os

from storefront.plugins import Plugin

from . import hooks, lasting, models, reuse
from .admin import bp as admin_bp
from .buyer import bp as buyer_bp
from .forms import StorePickupSettingsForm
from .services import DEFAULT_SETTINGS

# From the start, in every process: a booking or a store's edit here must retire every
# worker's copies, though this process has not made any yet (a sweep, a fresh worker).
reuse.store_writes.listen()

plugin = Plugin(
    name="store_pickup",
    title="Store pickup",
    version="1.0.0",
    description="Pick up in store at checkout: locations with opening hours, time slots with capacity, "
                "pickup codes, a counter screen, reminders and automatic cancellation of uncollected orders.",
    hooks=hooks,
    blueprints=[buyer_bp],
    lasting_hooks=lasting,
    # Staff pages serve open pickups while disabled; admin.py decides which answer then.
    lasting_blueprints=[admin_bp],
    models=models,
    migrations=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations", "versions"),
    settings_form=StorePickupSettingsForm,
    default_settings=dict(DEFAULT_SETTINGS),
)

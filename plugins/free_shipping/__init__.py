"""Free-shipping threshold (满包邮): the delivery fee is waived once the order reaches a threshold.

See README.md for the settings, the hooks used and how the threshold is computed.
"""
from __future__ import annotations

from flask import Blueprint

from storefront.plugins import Plugin

from . import hooks
from .forms import FreeShippingSettingsForm

# No routes: the blueprint only makes the plugin's templates findable.
bp = Blueprint("free_shipping", __name__, template_folder="templates")

plugin = Plugin(
    name="free_shipping",
    title="Free-shipping threshold",
    version="1.0.0",
    description="Waives the delivery fee when the order reaches a threshold per delivery method; "
                "shows buyers how much more they need.",
    hooks=hooks,
    blueprints=[bp],
    settings_form=FreeShippingSettingsForm,
    default_settings={"thresholds": "courier:99.00", "basis": "after", "excluded_regions": ""},
)


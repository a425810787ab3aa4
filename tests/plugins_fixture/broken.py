"""A plugin with a misnamed hook implementation: loading it must fail at start-up."""
from __future__ import annotations

from storefront.plugins import Plugin, hookimpl


class BrokenHooks:
    @hookimpl
    def template_slott(self, name, context):  # typo on purpose
        return "never"


plugin = Plugin(name="broken", title="Broken plugin", version="0.1", hooks=BrokenHooks())

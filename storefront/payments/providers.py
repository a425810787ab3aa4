"""Payment providers: pay, refund and idempotent callbacks keyed by provider reference."""
from __future__ import annotations


class TestProvider:
    """A simulated provider with its own pay page, so every flow can be tried end to end."""

    name = "test"

"""Admin pages: products."""
from __future__ import annotations

from .access import owner_required, staff_required  # noqa: F401
from .views import bp  # noqa: F401

"""Entry point for ``huey_consumer storefront.jobs.worker.huey``."""
from __future__ import annotations

from .. import create_app
from .queue import register_tasks

_app = create_app()
huey = _app.extensions["storefront"].huey
register_tasks(huey, lambda: _app)

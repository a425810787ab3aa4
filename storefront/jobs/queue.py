"""The Huey queue: SQLite file in ``instance/`` by default, Redis when configured.

Periodic tasks run the deadline sweep and deliver the notification outbox.
Start the worker with ``flask storefront worker`` (or ``huey_consumer``
pointing at :data:`huey` with ``STOREFRONT_*`` set in the environment).
"""
from __future__ import annotations

import os

from flask import Flask
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab


def make_huey(app: Flask):
    if app.config.get("STOREFRONT_HUEY_IMMEDIATE"):
        return MemoryHuey("storefront", immediate=True)
    redis_url = app.config.get("STOREFRONT_REDIS_URL")
    if redis_url:
        return RedisHuey("storefront", url=redis_url)
    return SqliteHuey("storefront", filename=os.path.join(app.instance_path, "huey.db"))


def register_tasks(huey, app_factory):
    """Attach the periodic tasks to ``huey``; each builds the app once per worker."""
    holder: dict = {}

    def app_ctx():
        if "app" not in holder:
            holder["app"] = app_factory()
        return holder["app"].app_context()

    @huey.periodic_task(crontab(minute="*"))
    def sweep_deadlines():
        from ..orders.sweeps import run_all_sweeps

        with app_ctx():
            return run_all_sweeps()

    @huey.periodic_task(crontab(minute="*"))
    def deliver_notifications():
        from ..notify.services import deliver_pending

        with app_ctx():
            return deliver_pending()

    return sweep_deadlines, deliver_notifications

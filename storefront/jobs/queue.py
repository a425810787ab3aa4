"""The Huey queue: SQLite file in ``instance/`` by default, Redis when configured.

Two periodic tasks run every minute: the deadline sweep (unpaid close,
auto-confirm, plugin deadlines) and delivery of the notification outbox.
Both are idempotent and safe on several machines at once (rows are claimed
with conditional updates), so running more than one worker is harmless.
Between them, the web processes ask for a delivery pass as soon as a message
is committed (``storefront.deliver_soon``, :mod:`storefront.notify.prompt`).

Run the worker in one of two ways:

* ``flask --app wsgi storefront worker [--workers 2]`` — uses the app the
  ``flask`` command built (recommended; same configuration as the web app).
* ``huey_consumer storefront.jobs.worker.huey -w 2 -k thread -g TERM -m 1`` — Huey's own
  consumer; :mod:`storefront.jobs.worker` builds the app with
  :func:`storefront.create_app`, so configure it with ``STOREFRONT_*``
  environment variables (``STOREFRONT_DATABASE_URL``, ``STOREFRONT_REDIS_URL``...).

For cron instead of a worker: ``flask storefront sweep`` and
``flask storefront deliver`` do one pass each.

With ``STOREFRONT_HUEY_IMMEDIATE`` (tests) the queue is an in-memory Huey
that runs a task synchronously when it is called.
"""
from __future__ import annotations

import os
from typing import Callable

from flask import Flask
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab

from ..notify.prompt import clear_request, prompt_task
from .progress import register_job_task


def make_huey(app: Flask):
    if app.config.get("STOREFRONT_HUEY_IMMEDIATE"):
        return MemoryHuey("storefront", immediate=True)
    redis_url = app.config.get("STOREFRONT_REDIS_URL")
    if redis_url:
        return RedisHuey("storefront", url=redis_url)
    return SqliteHuey("storefront", filename=os.path.join(app.instance_path, "huey.db"))


def run_sweeps() -> dict[str, int]:
    """One sweep pass (the periodic task's body; needs an app context)."""
    from ..orders.sweeps import run_all_sweeps

    return run_all_sweeps()


def run_delivery() -> int:
    """One outbox delivery pass (the periodic task's body; needs an app context)."""
    from ..notify.delivery import deliver_pending

    return deliver_pending()


def register_tasks(huey, app_factory: Callable[[], Flask]):
    """Attach the periodic tasks to ``huey`` (once per queue) and return them.

    ``app_factory`` is called once, lazily, in the worker; each run pushes its
    own app context so it gets its own database session.
    """
    existing = getattr(huey, "_storefront_tasks", None)
    if existing is not None:
        return existing
    holder: dict = {}

    def app_ctx():
        if "app" not in holder:
            holder["app"] = app_factory()
        return holder["app"].app_context()

    @huey.periodic_task(crontab(minute="*"), name="storefront.sweep_deadlines")
    def sweep_deadlines():
        with app_ctx():
            return run_sweeps()

    @huey.periodic_task(crontab(minute="*"), name="storefront.deliver_notifications")
    def deliver_notifications():
        with app_ctx():
            # This pass covers whatever a lost prompt request would have: clear the flag
            # so that the next committed message asks again.
            clear_request(huey)
            return run_delivery()

    # The worker must know the tasks the web processes queue: long admin actions
    # (storefront.jobs.progress) and prompt delivery passes.
    register_job_task(huey, app_factory)
    prompt_task(huey, app_factory)
    huey._storefront_tasks = (sweep_deadlines, deliver_notifications)
    return huey._storefront_tasks

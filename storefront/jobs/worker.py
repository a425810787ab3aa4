"""Entry point for Huey's own consumer::

    huey_consumer storefront.jobs.worker.huey -w 2 -k thread -g TERM -m 1

``-g TERM`` lets running tasks finish on SIGTERM (a delivery pass killed half-way
sends its last few messages again); ``-m 1`` polls a SQLite queue at least every
second, so prompt delivery requests are not left waiting up to Huey's default 10 s.

The app is built from ``STOREFRONT_*`` environment variables (see
:mod:`storefront.config`); ``flask storefront worker`` is the equivalent
that reuses the ``flask`` command's app. See :mod:`storefront.jobs.queue`.
"""
from __future__ import annotations

from .. import create_app
from .queue import register_tasks

_app = create_app()
huey = _app.extensions["storefront"].huey
sweep_deadlines, deliver_notifications = register_tasks(huey, lambda: _app)

"""The WSGI app the crash test's gunicorn serves: ``gunicorn tests.security.crash_app:app``.

Configured from the environment the test sets: ``CRASH_DATABASE_URL`` (a
database of its own, never the suite's), ``CRASH_INSTANCE`` (secret key,
uploads). The core shop only, no rate limits (the load comes from one
address), jobs run inline (no queue file to share between killed workers).
"""
from __future__ import annotations

import os

from storefront import create_app

app = create_app({
    "SQLALCHEMY_DATABASE_URI": os.environ["CRASH_DATABASE_URL"],
    "SECRET_KEY": "crash-test-secret",
    "RATELIMIT_ENABLED": False,
    "STOREFRONT_PLUGINS": [],
    "STOREFRONT_LOAD_ENTRY_POINTS": False,
    "STOREFRONT_HUEY_IMMEDIATE": True,
    # Inline, a paying request would also run a delivery pass: the crash test is about orders.
    "STOREFRONT_DELIVERY_PROMPT": False,
}, instance_path=os.environ["CRASH_INSTANCE"])

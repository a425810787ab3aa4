"""The WSGI application gunicorn serves during a benchmark: ``gunicorn bench.server:app``.

The shop (``create_app()``, configured by ``STOREFRONT_*`` variables exactly
as in production) and the reference app share one process, one dispatcher and
one database, so that every difference between them is the shop's own cost.
``BENCH_INSTANCE`` is the shop's instance folder (secret key, uploads).
"""
from __future__ import annotations

import os

from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bench.reference_app import create_reference_app
from storefront import create_app

shop = create_app(instance_path=os.environ.get("BENCH_INSTANCE") or None)
reference = create_reference_app(shop.config["SQLALCHEMY_DATABASE_URI"])
app = DispatcherMiddleware(shop, {"/_ref": reference})

"""gunicorn's settings for the shop; gunicorn reads this file from the folder it starts in.

``gunicorn -w 2 -b 127.0.0.1:8000 wsgi:app`` (docs/production.md) and the
benchmark's server (bench/harness.py) both start in the project folder.
"""
import gc


def post_worker_init(worker):
    # A loaded worker holds about 250,000 long-lived objects (the app, SQLAlchemy's
    # mappers, compiled templates, babel data). CPython's full collection walks them all,
    # about 110 ms, and when one fell inside a write transaction in the flash sale every
    # other writer waited it out. Freezing them once the app is loaded keeps them out of
    # every later collection (gc.freeze exists for servers that load once and then serve).
    gc.collect()
    gc.freeze()

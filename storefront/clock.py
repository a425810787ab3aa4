"""The shop's clock: naive UTC datetimes everywhere in the database.

``STOREFRONT_CLOCK_OFFSET_SECONDS`` moves the clock forward for demos and
end-to-end tests (a presale balance window "opening" without waiting days);
it is read per call so a test can change it on a running app.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app, has_app_context


def utcnow() -> datetime:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if has_app_context():
        offset = current_app.config.get("STOREFRONT_CLOCK_OFFSET_SECONDS") or 0
        if offset:
            now += timedelta(seconds=int(offset))
    return now

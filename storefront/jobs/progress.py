"""Long admin actions as background jobs with progress and a result report.

A staff action that may take a while (thousands of tracking numbers, bulk
coupon codes) is started with :func:`start_job`: it stores a small status
record and queues one Huey task (``storefront.run_job``) that calls the
*runner* registered for the job's kind. The runner works in chunks, each in
its own short transaction, and reports after each chunk through
:class:`JobProgress`; the admin's progress page polls the record.

The record lives in the settings table under ``job:<id>`` (a JSON value, no
schema change): ``status`` (queued, running, done, failed), ``done`` /
``total``, ``errors`` (row number, reference, message), ``summary`` (counts
for the report) and ``links`` (e.g. a CSV to download). ``all_settings()``
ignores these rows. Runners are registered by kind with :func:`runner`
(core modules and plugins alike), so the worker process, which imports the
same modules when it builds the app, knows them too.

With ``STOREFRONT_HUEY_IMMEDIATE`` (tests) the task runs before
:func:`start_job` returns; the page then shows the finished report.
"""
from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from flask import current_app, has_request_context
from flask_babel import force_locale, get_locale
from sqlalchemy import delete, select

from ..clock import utcnow
from ..database import write_transaction
from ..extensions import db
from ..settings_models import JOB_PREFIX, Setting

log = logging.getLogger(__name__)

MAX_ERRORS = 5000           # at most one per imported row (imports stop at 5000 rows)
# A report is read within days of its job; after this a record only grows the settings table
# (each holds up to MAX_ERRORS error rows). A queued or running record this old lost its worker.
JOB_RETENTION = timedelta(days=30)
_ID = re.compile(r"^[0-9a-f]{16}$")

RUNNERS: dict[str, Callable[..., dict]] = {}
DESCRIBE: dict[str, Callable[[dict], str]] = {}


def runner(kind: str, describe: Callable[[dict], str] | None = None):
    """Register ``func(progress, **args) -> summary`` as the runner for ``kind``.

    ``describe(summary)`` turns the counters into the report's sentence,
    translated when the page is shown.
    """
    def decorate(func):
        RUNNERS[kind] = func
        if describe is not None:
            DESCRIBE[kind] = describe
        return func
    return decorate


def describe_job(job: dict) -> str:
    describe = DESCRIBE.get(job.get("kind"))
    return describe(job.get("summary") or {}) if describe else ""


class JobProgress:
    """What a runner uses to report: one short write per call (per chunk, not per row)."""

    def __init__(self, job_id: str):
        self.job_id = job_id

    def set_total(self, total: int) -> None:
        _update(self.job_id, total=int(total))

    def advance(self, done: int, errors: list[dict] | None = None, **summary: int) -> None:
        """``done`` more items handled; ``errors`` as ``{"line", "ref", "message"}``; counters added."""
        def change(record):
            record["done"] += int(done)
            if errors:
                record["errors"] = (record["errors"] + list(errors))[:MAX_ERRORS]
            counts = dict(record.get("summary") or {})
            for key, value in summary.items():
                counts[key] = counts.get(key, 0) + int(value)
            record["summary"] = counts
        _update(self.job_id, change)


def _key(job_id: str) -> str:
    return JOB_PREFIX + job_id


def _update(job_id: str, change: Callable[[dict], None] | None = None, **values: Any) -> None:
    with write_transaction():
        row = db.session.get(Setting, _key(job_id))
        if row is None:
            return
        record = dict(row.value)
        if change is not None:
            change(record)
        record.update(values, updated_at=utcnow().isoformat())
        row.value = record  # a new dict: the JSON column sees the change


def get_job(job_id: str) -> dict | None:
    """The status record, or ``None`` for an unknown (or malformed) id."""
    if not isinstance(job_id, str) or not _ID.match(job_id):
        return None
    row = db.session.get(Setting, _key(job_id))
    if row is None:
        return None
    db.session.refresh(row)  # the worker writes it: never show this session's stale copy
    return {"id": job_id, **row.value}


def start_job(kind: str, *, title: str, owner_id: int | None, args: dict, total: int = 0,
              links: list[dict] | None = None, back_url: str | None = None) -> str:
    """Store a queued job and hand it to the worker; returns its id."""
    if kind not in RUNNERS:
        raise KeyError(kind)
    job_id = secrets.token_hex(8)
    now = utcnow().isoformat()
    record = {"kind": kind, "title": title, "status": "queued", "done": 0, "total": int(total), "errors": [],
              "summary": {}, "links": links or [], "back_url": back_url, "owner_id": owner_id,
              "created_at": now, "updated_at": now, "message": ""}
    with write_transaction():
        db.session.add(Setting(key=_key(job_id), value=record))
    locale = str(get_locale()) if has_request_context() and get_locale() else None
    job_task()(job_id, kind, args, locale)
    return job_id


def run_job(job_id: str, kind: str, args: dict, locale: str | None = None) -> None:
    """The task's body (needs an app context): run the runner, record the outcome.

    A runner's exception marks the job failed with a generic message (logged
    with the traceback); what the chunks committed before stays committed
    and is counted in ``done``.
    """
    func = RUNNERS.get(kind)
    if func is None:
        _update(job_id, status="failed", message="unknown job kind")
        return
    _update(job_id, status="running")
    try:
        with force_locale(locale or current_app.config["STOREFRONT_DEFAULT_LOCALE"]):
            summary = func(JobProgress(job_id), **args) or {}
    except Exception:
        log.exception("job %s (%s) failed", job_id, kind)
        db.session.rollback()
        _update(job_id, status="failed", message="error")
        return
    _update(job_id, lambda r: r["summary"].update(summary), status="done")


def register_job_task(huey, app_factory: Callable):
    """Attach ``storefront.run_job`` to ``huey`` once and return it."""
    existing = getattr(huey, "_storefront_job_task", None)
    if existing is not None:
        return existing
    holder: dict = {}

    @huey.task(name="storefront.run_job")
    def run_job_task(job_id, kind, args, locale=None):
        if "app" not in holder:
            holder["app"] = app_factory()
        with holder["app"].app_context():
            run_job(job_id, kind, args, locale)

    huey._storefront_job_task = run_job_task
    return run_job_task


def job_task():
    """The current app's ``run_job`` task (registered on first use in a web process)."""
    app = current_app._get_current_object()
    return register_job_task(app.extensions["storefront"].huey, lambda: app)


def purge_old_jobs(now: datetime) -> int:
    """Delete job records last updated more than :data:`JOB_RETENTION` before ``now`` (a core sweep)."""
    cutoff = _naive_utc(now) - JOB_RETENTION
    stale = []
    # Few rows (one per staff import or code batch), and the age lives inside the JSON value,
    # which SQLite and PostgreSQL query differently: read the keys and stamps, decide here.
    for key, value in db.session.execute(select(Setting.key, Setting.value)
                                         .where(Setting.key.startswith(JOB_PREFIX, autoescape=True))):
        try:
            updated = datetime.fromisoformat(str((value or {}).get("updated_at")))
        except (TypeError, ValueError):
            updated = None  # a malformed record is never shown (get_job) and can go
        if updated is None or _naive_utc(updated) < cutoff:
            stale.append(key)
    if not stale:
        return 0
    with write_transaction():
        db.session.execute(delete(Setting).where(Setting.key.in_(stale)))
    return len(stale)


def _naive_utc(moment: datetime) -> datetime:
    """The shop stores naive UTC (``clock.utcnow``); accept an aware datetime too."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment

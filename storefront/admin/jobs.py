"""Admin pages: progress and result report of a background job (storefront.jobs.progress).

The HTML page refreshes itself while the job runs (``<meta http-equiv=refresh>``,
so it works without JavaScript); ``js/job-progress.js`` polls the JSON status
instead and moves the progress bar without reloading. CSP forbids inline
scripts, so the script is a static file and reads its URL from ``data-*``.
"""
from __future__ import annotations

from flask import abort, jsonify, render_template

from ..jobs.progress import describe_job, get_job
from .access import staff_required
from .views import bp

REFRESH_SECONDS = 2


def _job_or_404(job_id: str) -> dict:
    job = get_job(job_id)
    if job is None:
        abort(404)
    return job


def _percent(job: dict) -> int:
    total = job.get("total") or 0
    return 100 if job["status"] == "done" else (min(100, job["done"] * 100 // total) if total else 0)


@bp.get("/jobs/<job_id>")
@staff_required
def job(job_id):
    record = _job_or_404(job_id)
    finished = record["status"] in ("done", "failed")
    return render_template("admin/job.html", job=record, finished=finished, percent=_percent(record),
                           report=describe_job(record) if finished else "",
                           refresh=None if finished else REFRESH_SECONDS)


@bp.get("/jobs/<job_id>.json")
@staff_required
def job_status(job_id):
    record = _job_or_404(job_id)
    return jsonify({"id": record["id"], "status": record["status"], "done": record["done"],
                    "total": record["total"], "percent": _percent(record), "errors": len(record["errors"]),
                    "finished": record["status"] in ("done", "failed")})

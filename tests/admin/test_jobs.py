"""Background jobs with progress: the tracking-number import, the progress page and JSON status."""
from __future__ import annotations

import io
import re

import pytest

from storefront.errors import ServiceError
from storefront.extensions import db
from storefront.jobs import progress
from storefront.orders import csv_io, services
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.settings import all_settings
from storefront.settings_models import Setting
from tests.conftest import new_client
from tests.factories import make_user, sign_in
from tests.notify.helpers import make_order


def _upload(client, text: str):
    data = {"file": (io.BytesIO(text.encode("utf-8")), "tracking.csv")}
    return client.post("/admin/orders/import", data=data, content_type="multipart/form-data")


def _job_id(response) -> str:
    assert response.status_code == 303
    match = re.search(r"/admin/jobs/([0-9a-f]{16})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def _reload(order):
    db.session.expire_all()
    return db.session.get(Order, order.id)


def test_import_runs_in_chunks_and_reports_bad_rows_with_line_numbers(staff_client, monkeypatch):
    monkeypatch.setattr(csv_io, "IMPORT_CHUNK", 2)
    calls = []
    real_advance = progress.JobProgress.advance

    def advance(self, done, errors=None, **summary):
        calls.append(done)
        return real_advance(self, done, errors, **summary)

    monkeypatch.setattr(progress.JobProgress, "advance", advance)
    buyer = make_user()
    good = [make_order(buyer, status=OrderStatus.PAID) for _ in range(5)]
    unpaid = make_order(buyer, status=OrderStatus.PENDING_PAYMENT)
    lines = ["order_number,carrier,tracking_number"]
    lines += [f"{o.number},SF Express,SF10000000{i}" for i, o in enumerate(good)]
    lines += [f"{unpaid.number},ZTO,ZT123457", "NOPE0001,ZTO,ZT123458", f"{good[0].number},ZTO,ZT999999"]
    job_id = _job_id(_upload(staff_client, "\n".join(lines)))

    status = staff_client.get(f"/admin/jobs/{job_id}.json").get_json()
    assert status == {"id": job_id, "status": "done", "done": 8, "total": 8, "percent": 100, "errors": 3,
                      "finished": True}
    # Duplicate reported first (checks), then 7 rows shipped two at a time: 1 + 4 progress writes.
    assert calls == [1, 2, 2, 2, 1]
    html = staff_client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "5 shipped, 3 with problems." in html and "http-equiv" not in html
    # Each problem with the line of the file it came from (the header is line 1).
    assert re.search(r"<td>7</td><td>%s</td>.*Not awaiting shipment" % unpaid.number, html, re.S)
    assert re.search(r"<td>8</td><td>NOPE0001</td>.*Unknown order", html, re.S)
    assert re.search(r"<td>9</td><td>%s</td>.*Duplicate row" % good[0].number, html, re.S)
    assert all(_reload(o).status == OrderStatus.SHIPPED for o in good)
    assert _reload(good[0]).tracking_number == "SF100000000"
    assert _reload(unpaid).status == OrderStatus.PENDING_PAYMENT


def test_a_row_that_fails_while_shipping_changes_nothing(staff_client, monkeypatch):
    buyer = make_user()
    first, broken, last = (make_order(buyer, status=OrderStatus.PAID) for _ in range(3))
    real_ship = services.ship_order

    def ship(order, staff, carrier, tracking):
        if order.id == broken.id:
            raise ServiceError("The order changed meanwhile.")
        return real_ship(order, staff, carrier, tracking)

    monkeypatch.setattr(services, "ship_order", ship)
    text = "\n".join(f"{o.number},ZTO,ZT10000{i}" for i, o in enumerate((first, broken, last)))
    job_id = _job_id(_upload(staff_client, text))
    html = staff_client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "2 shipped, 1 with problems." in html and "The order changed meanwhile." in html
    assert _reload(broken).status == OrderStatus.PAID and _reload(broken).tracking_number is None
    assert _reload(first).status == _reload(last).status == OrderStatus.SHIPPED


def test_a_bad_file_is_refused_before_any_job(staff_client):
    response = _upload(staff_client, "")
    assert response.status_code == 422 and "no rows" in response.get_data(as_text=True)
    assert db.session.query(Setting).filter(Setting.key.like("job:%")).count() == 0


def test_running_job_page_refreshes_and_polls(staff_client, app):
    job_id = "0123456789abcdef"
    db.session.add(Setting(key="job:" + job_id, value={
        "kind": "orders.import_tracking", "title": "Import", "status": "running", "done": 250, "total": 1000,
        "errors": [], "summary": {}, "links": [], "back_url": None, "owner_id": None, "created_at": "",
        "updated_at": "", "message": ""}))
    db.session.commit()
    html = staff_client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in html
    assert 'value="25"' in html and "250 of 1000" in html
    assert "js/job-progress.js" in html and f'data-status-url="/admin/jobs/{job_id}.json"' in html
    assert "<script>" not in html  # CSP: no inline script
    status = staff_client.get(f"/admin/jobs/{job_id}.json").get_json()
    assert status["finished"] is False and status["percent"] == 25
    assert "job:" + job_id not in all_settings()  # job records are not shop settings


def test_progress_is_staff_only_and_unknown_jobs_are_404(app, staff_client):
    buyer_client = new_client(app)
    sign_in(buyer_client, make_user())
    order = make_order(make_user(), status=OrderStatus.PAID)
    job_id = _job_id(_upload(staff_client, f"{order.number},ZTO,ZT100000"))
    for url in (f"/admin/jobs/{job_id}", f"/admin/jobs/{job_id}.json"):
        assert buyer_client.get(url).status_code == 403
        anonymous = new_client(app).get(url)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for bad in ("ffffffffffffffff", "nope", "..%2Fsettings"):
        assert staff_client.get(f"/admin/jobs/{bad}").status_code == 404
        assert staff_client.get(f"/admin/jobs/{bad}.json").status_code == 404


def test_a_crashing_runner_marks_the_job_failed(staff_client, monkeypatch):
    def boom(progress_, **_args):
        progress_.advance(3, shipped=3)
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(progress.RUNNERS, "test.boom", boom)
    with staff_client.application.test_request_context():
        job_id = progress.start_job("test.boom", title="Boom", owner_id=None, args={}, total=10)
    job = progress.get_job(job_id)
    assert job["status"] == "failed" and job["done"] == 3
    html = staff_client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "stopped because of an error" in html and "disk on fire" not in html


def test_unknown_kind_cannot_start(app):
    with pytest.raises(KeyError):
        progress.start_job("nope", title="x", owner_id=None, args={})


def test_queued_job_shows_progress_until_the_worker_runs_it(app, staff_client, monkeypatch):
    """Without immediate mode the upload only queues the job; the worker runs it later."""
    from huey import MemoryHuey

    queue = MemoryHuey("jobs-test", immediate=False)
    monkeypatch.setattr(app.extensions["storefront"], "huey", queue)
    order = make_order(make_user(), status=OrderStatus.PAID)
    job_id = _job_id(_upload(staff_client, f"{order.number},ZTO,ZT100000"))
    html = staff_client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in html and "0 of 1" in html
    assert staff_client.get(f"/admin/jobs/{job_id}.json").get_json()["status"] == "queued"
    assert _reload(order).status == OrderStatus.PAID
    task = queue.dequeue()
    assert task is not None and task.name == "storefront.run_job"
    queue.execute(task)
    status = staff_client.get(f"/admin/jobs/{job_id}.json").get_json()
    assert status["status"] == "done" and status["done"] == 1
    assert _reload(order).status == OrderStatus.SHIPPED


def test_the_core_sweep_forgets_reports_older_than_the_retention(app, staff_client):
    """Job reports (up to 5000 error rows each) must not pile up in the settings table forever."""
    from datetime import timedelta

    from storefront.clock import utcnow
    from storefront.orders.sweeps import run_core_sweeps

    order = make_order(make_user(), status=OrderStatus.PAID)
    old_id = _job_id(_upload(staff_client, f"{order.number},ZTO,ZT100000"))
    fresh_id = _job_id(_upload(staff_client, "nope,ZTO,ZT100001"))
    now = utcnow()
    old = db.session.get(Setting, progress.JOB_PREFIX + old_id)
    old.value = dict(old.value, updated_at=(now - progress.JOB_RETENTION - timedelta(minutes=1)).isoformat())
    db.session.add(Setting(key=progress.JOB_PREFIX + "0123456789abcdef", value={"status": "running"}))
    db.session.add(Setting(key="job_like_but_not_a_job", value={"updated_at": "2000-01-01T00:00:00"}))
    db.session.commit()

    assert run_core_sweeps(now)["jobs_purged"] == 2  # the old report and the malformed record
    assert staff_client.get(f"/admin/jobs/{old_id}").status_code == 404
    assert staff_client.get(f"/admin/jobs/{fresh_id}.json").get_json()["status"] == "done"
    assert db.session.get(Setting, "job_like_but_not_a_job") is not None
    assert run_core_sweeps(now)["jobs_purged"] == 0

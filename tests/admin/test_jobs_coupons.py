"""Bulk coupon code generation runs as a background job with progress and a codes CSV."""
from __future__ import annotations

import re

import plugins.coupons.admin as coupons_admin
from plugins.coupons import admin_services
from plugins.coupons.models import CouponCode
from sqlalchemy import func, select
from storefront.extensions import db
from storefront.jobs import progress
from tests.conftest import new_client
from tests.factories import make_staff, make_user, set_plugin_state, sign_in


def _coupon(**data):
    values = {"name": "Batch", "kind": "fixed", "amount": 500, "per_buyer_limit": None, "single_use_codes": True}
    values.update(data)
    return admin_services.create_coupon(values)


def _codes() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(CouponCode))


def test_generation_in_chunks_ends_with_report_and_csv(app, staff_client, monkeypatch):
    set_plugin_state("coupons")
    monkeypatch.setattr(coupons_admin, "GENERATE_CHUNK", 40)
    calls = []
    real_advance = progress.JobProgress.advance
    monkeypatch.setattr(progress.JobProgress, "advance",
                        lambda self, done, errors=None, **kw: (calls.append(done), real_advance(self, done, errors, **kw)))
    coupon = _coupon()
    response = staff_client.post(f"/admin/coupons/{coupon.id}/codes", data={"count": "100"})
    assert response.status_code == 302
    job_id = re.search(r"/admin/jobs/([0-9a-f]{16})$", response.headers["Location"]).group(1)
    assert calls == [40, 40, 20]
    assert _codes() == 100
    status = staff_client.get(f"/admin/jobs/{job_id}.json").get_json()
    assert status["finished"] and status["done"] == status["total"] == 100 and status["errors"] == 0
    html = staff_client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "100 codes generated." in html
    assert f"/admin/coupons/{coupon.id}/codes.csv" in html and "Download the codes (CSV)" in html
    csv_text = staff_client.get(f"/admin/coupons/{coupon.id}/codes.csv").get_data(as_text=True)
    assert len(csv_text.strip().splitlines()) == 101


def test_bad_requests_start_no_job(app, staff_client):
    set_plugin_state("coupons")
    plain = _coupon(name="Plain", single_use_codes=False)
    response = staff_client.post(f"/admin/coupons/{plain.id}/codes", data={"count": "10"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Turn on single-use codes" in html, html[-2500:]
    batch = _coupon()
    for count in ("0", "5001", "ten"):
        assert staff_client.post(f"/admin/coupons/{batch.id}/codes", data={"count": count}).status_code == 422
    assert _codes() == 0
    from storefront.settings_models import Setting

    assert db.session.scalar(select(func.count()).select_from(Setting).where(Setting.key.like("job:%"))) == 0


def test_generation_is_staff_only(app):
    set_plugin_state("coupons")
    coupon = _coupon()
    buyer = new_client(app)
    sign_in(buyer, make_user())
    assert buyer.post(f"/admin/coupons/{coupon.id}/codes", data={"count": "5"}).status_code == 403
    anonymous = new_client(app).post(f"/admin/coupons/{coupon.id}/codes", data={"count": "5"})
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert _codes() == 0
    staff = new_client(app)
    sign_in(staff, make_staff())
    assert staff.post(f"/admin/coupons/{coupon.id}/codes", data={"count": "5"}).status_code == 302
    assert _codes() == 5

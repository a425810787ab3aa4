"""Staff changes to coupons are written to the audit log (who, what, before/after), pages and API alike."""
from __future__ import annotations

from sqlalchemy import select

from plugins.coupons import admin_services
from plugins.coupons.models import Coupon
from storefront.audit.models import AuditEntry
from storefront.extensions import db
from tests.checkout.helpers import fresh

from .conftest import bearer, make_coupon, sign_in


def entries(action: str) -> list[AuditEntry]:
    fresh()
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)).scalars())


def test_admin_pages_audit_pause_duplicate_and_edit(app, enabled, web, staff):
    coupon = make_coupon(name="Ten off", code="TEN")
    sign_in(web, staff)
    assert web.post(f"/admin/coupons/{coupon.id}/active", data={"active": "0"}).status_code == 302
    [paused] = entries("coupons.pause")
    assert (paused.actor_id, paused.actor_label) == (staff.id, staff.email)
    assert paused.object_type == "coupon" and paused.object_id == str(coupon.id)
    assert (paused.before, paused.after) == ({"active": True}, {"active": False})

    assert web.post(f"/admin/coupons/{coupon.id}/duplicate").status_code == 302
    [copied] = entries("coupons.duplicate")
    copy_id = db.session.execute(select(Coupon.id).where(Coupon.id != coupon.id)).scalar_one()
    assert copied.actor_id == staff.id and copied.object_id == str(copy_id)
    assert copied.after["name"] == "Copy of Ten off" and copied.after["code"] is None

    admin_services.update_coupon(coupon.id, {"amount": 1500, "name": "Fifteen off"}, actor=staff)
    [edited] = entries("coupons.update")
    assert edited.actor_id == staff.id
    assert edited.before == {"name": "Ten off", "amount": 1000}
    assert edited.after == {"name": "Fifteen off", "amount": 1500}


def test_api_create_and_generate_codes_are_audited_without_the_codes(app, enabled, web, staff):
    auth = bearer(staff)
    created = web.post("/api/v1/admin/coupons/", json={"name": "Single", "kind": "fixed", "amount": 500,
                                                       "single_use_codes": True}, headers=auth)
    assert created.status_code == 201
    [entry] = entries("coupons.create")
    assert entry.actor_id == staff.id and entry.object_id == str(created.json["id"])
    assert entry.before is None and entry.after["amount"] == 500 and entry.after["single_use_codes"] is True

    made = web.post(f"/api/v1/admin/coupons/{created.json['id']}/codes", json={"count": 3}, headers=auth)
    assert made.status_code == 201
    [generated] = entries("coupons.generate_codes")
    assert generated.actor_id == staff.id and generated.after == {"count": 3}
    assert not any(code in repr(generated.after) for code in made.json["codes"])


def test_refused_change_writes_no_entry(app, enabled, web, staff):
    sign_in(web, staff)
    assert web.post("/admin/coupons/new", data={"name": "Bad", "kind": "percent", "percent_bp": "0"}).status_code == 422
    assert entries("coupons.create") == []

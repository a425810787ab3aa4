"""Staff changes to presales are written to the audit log (who, what, before/after)."""
from __future__ import annotations

from sqlalchemy import select

from storefront.audit.models import AuditEntry
from storefront.extensions import db
from tests.factories import make_staff, make_user, sign_in

from .conftest import api_token, checkout, fresh, full_campaign, new_client


def entries(action: str) -> list[AuditEntry]:
    fresh()
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)).scalars())


def test_api_edit_and_quota_raise_record_before_and_after(app, enabled):
    campaign, product = full_campaign(quota=4, price=10000)
    sku_id = product.skus[0].id
    staff = make_staff()
    auth = api_token(staff)
    web = new_client(app)
    assert web.patch(f"/api/v1/presale/campaigns/{campaign.id}", json={"price": 8800}, headers=auth).status_code == 200
    [edited] = entries("presale.update")
    assert (edited.actor_id, edited.actor_label) == (staff.id, staff.email)
    assert edited.object_type == "campaign" and edited.object_id == str(campaign.id)
    assert (edited.before, edited.after) == ({"price": 10000}, {"price": 8800})

    raised = web.put(f"/api/v1/presale/campaigns/{campaign.id}/quotas/{sku_id}", json={"quota": 9}, headers=auth)
    assert raised.status_code == 200
    [quota] = entries("presale.quota")
    assert quota.actor_id == staff.id
    assert (quota.before, quota.after) == ({"sku_id": sku_id, "quota": 4}, {"sku_id": sku_id, "quota": 9})


def test_quota_below_sold_is_refused_without_an_entry(app, enabled):
    campaign, product = full_campaign(quota=3)
    checkout(make_user(), (product.skus[0].id, 2))
    web = new_client(app)
    sign_in(web, make_staff())
    assert web.post(f"/admin/presale/{campaign.id}/quota/{product.skus[0].id}", data={"quota": "1"}).status_code == 303
    assert entries("presale.quota") == []

"""Staff changes to popups are written to the audit log (who, what, before/after), pages and API alike."""
from __future__ import annotations

from sqlalchemy import select

from storefront.audit.models import AuditEntry
from storefront.extensions import db

from .conftest import bearer, make_popup, sign_in


def entries(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)).scalars())


def test_admin_pages_audit_pause_and_delete(client, enabled, staff):
    popup = make_popup(title="Double 11", priority=3)
    popup_id = popup.id
    sign_in(client, staff)
    assert client.post(f"/admin/popups/{popup_id}/active", data={"active": "0"}).status_code == 302
    [paused] = entries("promo_popups.pause")
    assert (paused.actor_id, paused.actor_label) == (staff.id, staff.email)
    assert paused.object_type == "popup" and paused.object_id == str(popup_id)
    assert (paused.before, paused.after) == ({"active": True}, {"active": False})

    assert client.post(f"/admin/popups/{popup_id}/delete").status_code == 302
    [deleted] = entries("promo_popups.delete")
    assert deleted.actor_id == staff.id and deleted.object_id == str(popup_id)
    assert deleted.before["title"] == "Double 11" and deleted.before["priority"] == 3 and deleted.after is None


def test_api_create_and_edit_keep_only_changed_fields(client, enabled, staff):
    auth = bearer(staff)
    response = client.post("/api/v1/popups/", json={"title": "API", "pages": ["home"],
                                                     "starts_at": "2026-11-11T00:00:00"}, headers=auth)
    assert response.status_code == 201
    pid = response.get_json()["id"]
    [created] = entries("promo_popups.create")
    assert created.actor_id == staff.id and created.object_id == str(pid)
    # The form's shop time (UTC+8 in the tests) is stored, and audited, as UTC.
    assert created.after["title"] == "API" and created.after["starts_at"] == "2026-11-10T16:00:00"

    assert client.patch(f"/api/v1/popups/{pid}", json={"title": "Renamed"}, headers=auth).status_code == 200
    [edited] = entries("promo_popups.update")
    assert edited.actor_id == staff.id
    assert (edited.before, edited.after) == ({"title": "API"}, {"title": "Renamed"})


def test_buyer_cannot_change_and_leaves_no_entry(client, enabled, buyer):
    popup = make_popup()
    sign_in(client, buyer)
    assert client.post(f"/admin/popups/{popup.id}/active", data={"active": "0"}).status_code == 403
    assert entries("promo_popups.pause") == []

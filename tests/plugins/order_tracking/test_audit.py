"""Staff changes to carriers and parcels are written to the audit log (who, what, before/after)."""
from __future__ import annotations

from sqlalchemy import select

from plugins.order_tracking import carriers, services
from plugins.order_tracking.models import Carrier
from storefront.audit.models import AuditEntry
from storefront.clock import utcnow
from storefront.extensions import db
from tests.factories import login

from .helpers import shipped_order

FORM = {"name": "Best Express", "code": "best", "tracking_url": "https://example.com/t/{tracking}",
        "transit_days": "4", "active": "y"}


def entries(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)).scalars())


def test_carrier_create_edit_delete_are_audited(app, client, enabled, staff):
    login(client, staff)
    assert client.post("/admin/tracking/carriers/new", data=FORM).status_code == 302
    row_id = db.session.execute(select(Carrier.id).where(Carrier.code == "best")).scalar_one()
    [created] = entries("order_tracking.carrier_create")
    assert (created.actor_id, created.actor_label) == (staff.id, staff.email)
    assert created.object_type == "carrier" and created.object_id == str(row_id)
    assert created.after["code"] == "best" and created.after["transit_days"] == 4
    # The preset written first, on the staff member's behalf.
    [preset] = entries("order_tracking.carriers_preset")
    assert preset.actor_id == staff.id and "sf" in preset.after["codes"]

    assert client.post(f"/admin/tracking/carriers/{row_id}/edit", data={**FORM, "transit_days": "6"}).status_code == 302
    [edited] = entries("order_tracking.carrier_update")
    assert edited.actor_id == staff.id
    assert (edited.before, edited.after) == ({"transit_days": 4}, {"transit_days": 6})

    assert client.post(f"/admin/tracking/carriers/{row_id}/delete").status_code == 302
    [deleted] = entries("order_tracking.carrier_delete")
    assert deleted.actor_id == staff.id and deleted.object_id == str(row_id)
    assert deleted.before["name"] == "Best Express" and deleted.after is None


def test_refused_delete_and_automatic_seed_write_no_entry(app, client, enabled, staff):
    assert carriers.seed_preset() > 0  # no actor: the seed on a first shipment is not a staff action
    only = db.session.execute(select(Carrier.id)).scalars().all()
    with app.test_request_context():
        for carrier_id in only[1:]:
            carriers.delete_carrier(carrier_id, staff)
    login(client, staff)
    assert client.post(f"/admin/tracking/carriers/{only[0]}/delete").status_code == 302  # "keep at least one"
    assert db.session.get(Carrier, only[0]) is not None
    assert entries("order_tracking.carriers_preset") == []
    assert len(entries("order_tracking.carrier_delete")) == len(only) - 1


def test_staff_parcel_and_event_are_audited(app, enabled, buyer, staff):
    order = shipped_order(buyer, staff)
    parcel = services.add_parcel(order, staff, "zto", "ZT1000")
    [added] = entries("order_tracking.parcel_add")
    assert added.actor_id == staff.id and added.object_id == str(parcel.id)
    assert added.after == {"order_number": order.number, "carrier": "ZTO", "tracking_number": "ZT1000"}

    event = services.add_event(parcel.id, staff, {"at": utcnow(), "status": "in_transit", "location": "Hub"})
    [logged] = entries("order_tracking.event_add")
    assert logged.actor_id == staff.id and logged.object_id == str(event.id)
    assert logged.after["status"] == "in_transit" and logged.after["location"] == "Hub"

"""Staff decisions on cases and credit adjustments are written to the audit log (who, what, before/after)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from plugins.aftersales import actions, cases, credit
from storefront.audit.models import AuditEntry
from storefront.errors import ConcurrentUpdate
from storefront.extensions import db

from .conftest import client_for, fresh_case, make_staff, open_case, set_enabled, shipped_order


@pytest.fixture(autouse=True)
def _manual(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False,
                return_address="Returns desk, 88 Keji Road, Shenzhen")


def entries(prefix: str = "aftersales.") -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action.startswith(prefix))
                                   .order_by(AuditEntry.id)).scalars())


def test_reject_on_the_admin_page_is_audited_with_status_and_reason(app, buyer, staff):
    case = open_case(shipped_order(buyer), buyer)
    assert entries() == []  # the buyer's request is not a staff action
    response = client_for(app, staff).post(f"/admin/aftersales/{case.number}/reject",
                                           data={"reject-reason": "The parcel was signed for"})
    assert response.status_code == 303
    [entry] = entries()
    assert entry.action == "aftersales.rejected"
    assert (entry.actor_id, entry.actor_label) == (staff.id, staff.email)
    assert entry.object_type == "aftersales_case" and entry.object_id == str(case.id)
    assert entry.before == {"status": "requested"}
    assert entry.after == {"status": "rejected", "note": "The parcel was signed for"}


def test_refund_and_assign_record_before_and_after(app, buyer, staff):
    other = make_staff()
    case = open_case(shipped_order(buyer), buyer)
    actions.assign(case, staff, other.id, "complaint")
    actions.refund(fresh_case(case), staff, 1000)
    assigned, refunded = entries()
    assert assigned.action == "aftersales.assigned" and assigned.actor_id == staff.id
    assert assigned.before == {"assignee_id": None, "category": "back_office"}
    assert assigned.after == {"assignee_id": other.id, "category": "complaint"}
    assert refunded.action == "aftersales.refunded" and refunded.actor_id == staff.id
    assert (refunded.before, refunded.after) == ({"status": "requested"},
                                                 {"status": "refunded", "amount": 1000, "method": "original"})
    actions.assign(fresh_case(case), staff, None)
    unassigned = entries("aftersales.assigned")[-1]
    assert (unassigned.before, unassigned.after) == ({"assignee_id": other.id}, {"assignee_id": None})


def test_buyer_actions_and_refused_decisions_write_no_entry(app, buyer, staff):
    case = open_case(shipped_order(buyer), buyer)
    cases.post_message(case, buyer, "Any news?")
    cases.cancel_case(fresh_case(case), buyer)
    with pytest.raises(ConcurrentUpdate):
        actions.reject(fresh_case(case), staff, "Too late")
    assert entries() == []


def test_credit_adjustment_records_the_balance_before_and_after(app, buyer, staff):
    credit.adjust_by_staff(staff, buyer.id, "12.50", "Sorry for the wait", "form-key-1")
    credit.adjust_by_staff(staff, buyer.id, "12.50", "Sorry for the wait", "form-key-1")  # double submit
    credit.adjust_by_staff(staff, buyer.id, "-2.50", "Correction", "form-key-2")
    first, second = entries("aftersales.credit_adjust")
    assert first.actor_id == staff.id and first.object_id == str(buyer.id)
    assert (first.before, first.after["balance"], first.after["amount"]) == ({"balance": 0}, 1250, 1250)
    assert (second.before, second.after["balance"], second.after["amount"]) == ({"balance": 1250}, 1000, -250)

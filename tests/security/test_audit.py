"""The audit log is complete and append-only.

Every staff form the admin shows is submitted as the owner (with the values
the page pre-fills); whenever that changes shop data, an audit entry must be
written in the same request. Routes are found by walking the admin pages, so
a new staff action without an audit entry fails here.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storefront.audit.models import AuditEntry, AuditLogIsAppendOnly
from storefront.audit.services import record
from storefront.extensions import db

from .conftest import signed_in
from .test_mass_assignment import _collect_forms, _endpoint, _fresh, _restore_plugins
from .test_xss import plausible
from .walker import diff, fingerprint

# Tables that change as a side effect of any request and are not shop data.
BOOKKEEPING = {"audit_log", "outbox", "inbox_messages", "order_events"}

def _audit_count() -> int:
    db.session.rollback()
    return db.session.execute(select(func.count()).select_from(AuditEntry)).scalar()


def _unaudited_staff_changes(app, world) -> tuple[set[str], int]:
    owner_id = world.owner.id
    client = signed_in(app, _fresh(owner_id))
    forms = {action: form for action, form in _collect_forms(app, world, "owner", client).items()
             if "/admin" in action}
    missing, changed = set(), 0
    for action, form in sorted(forms.items()):
        data = {name: (values if values and values != [""] else [plausible(name)])
                for name, values in form.fields.items()}
        before, audits = fingerprint(), _audit_count()
        signed_in(app, _fresh(owner_id)).post(action, data=data)
        after = fingerprint()
        touched = [t for t in diff(before, after) if t not in BOOKKEEPING]
        if touched:
            changed += 1
            if _audit_count() == audits:
                missing.add(_endpoint(app, action) or action)
        _restore_plugins()
    return missing, changed


def test_every_staff_change_is_audited(app, world):
    missing, changed = _unaudited_staff_changes(app, world)
    assert changed >= 5, "too few staff forms changed anything: the walk proves little"
    assert not missing, "staff actions that change data without an audit entry:\n" + "\n".join(sorted(missing))


def test_audit_entries_cannot_be_changed_or_deleted(app, world):
    entry = record(world.owner, "test.action", object_type="test", object_id="1", after={"x": 1})
    db.session.commit()
    entry.action = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.delete(db.session.get(AuditEntry, entry.id))
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).action == "test.action"


def test_failed_logins_are_audited_without_the_password(app, world):
    from tests.conftest import new_client

    r = new_client(app).post("/account/login", data={"email": world.buyer.email, "password": "wrong-guess-123"})
    assert r.status_code == 200
    db.session.rollback()
    rows = db.session.execute(select(AuditEntry).where(AuditEntry.action == "login_failed")).scalars().all()
    assert rows and rows[-1].object_id == str(world.buyer.id)
    assert "wrong-guess-123" not in repr([(r.before, r.after) for r in rows])

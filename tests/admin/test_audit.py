from __future__ import annotations

from storefront.audit.services import record
from storefront.extensions import db


def _entries(owner, staff, n=60):
    for i in range(n):
        record(owner if i % 2 else staff, "plugin.enable" if i % 3 else "settings.update",
               object_type="thing", object_id=str(i), before={"n": i}, after={"n": i + 1})
    db.session.commit()


def test_newest_first_with_keyset_pages(owner_client, owner, staff):
    _entries(owner, staff)
    from storefront.audit.models import AuditEntry

    ids = sorted(e.id for e in db.session.execute(db.select(AuditEntry)).scalars())
    html = owner_client.get("/admin/audit").get_data(as_text=True)
    assert html.index(f'id="audit-{ids[-1]}"') < html.index(f'id="audit-{ids[-2]}"')
    assert html.count('id="audit-') == 50
    assert f'id="audit-{ids[10]}"' in html and f'id="audit-{ids[9]}"' not in html
    assert 'rel="next"' in html and f"after={ids[10]}" in html
    tenth = ids[9]
    page2 = owner_client.get(f"/admin/audit?after={ids[10]}").get_data(as_text=True)
    assert page2.count('id="audit-') == 10
    assert f'id="audit-{tenth}"' in page2
    assert f'id="audit-{ids[10]}"' not in page2
    assert 'rel="next"' not in page2


def test_filter_by_action_and_actor(owner_client, owner, staff):
    _entries(owner, staff, n=12)
    html = owner_client.get("/admin/audit?action=settings.update").get_data(as_text=True)
    assert html.count('id="audit-') == 4  # i = 0, 3, 6, 9
    html = owner_client.get(f"/admin/audit?actor={staff.email}").get_data(as_text=True)
    assert html.count('id="audit-') == 6
    html = owner_client.get(f"/admin/audit?actor={staff.email}&action=settings.update").get_data(as_text=True)
    assert html.count('id="audit-') == 2  # i = 0, 6


def test_user_content_in_entries_is_escaped(owner_client, owner):
    record(owner, "settings.update", before={"shop_name": "<script>alert(1)</script>"}, after={})
    db.session.commit()
    html = owner_client.get("/admin/audit").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_no_route_changes_audit_entries(app):
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule

"""The staff queue pages with a keyset (``after=<case id>``) and the dashboard's counts stop at a cap."""
from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest

from plugins.aftersales import queue
from plugins.aftersales.models import Case
from storefront.clock import utcnow
from storefront.extensions import db

from .conftest import client_for, set_enabled, shipped_order


@pytest.fixture(autouse=True)
def _on(enabled):
    set_enabled(True)


_serial = itertools.count(1)


def _cases(order, n: int, **values) -> list[Case]:
    """``n`` cases on ``order``, two per creation second so the id breaks ties."""
    start = utcnow().replace(microsecond=0) - timedelta(days=2)
    rows = []
    for i in range(n):
        defaults = dict(number=f"ASQ{next(_serial):07d}", order_id=order.id, user_id=order.user_id,
                        kind="refund_shipped", status="requested", reason="quality", amount_requested=100,
                        currency="CNY", created_at=start + timedelta(seconds=i // 2))
        rows.append(Case(**{**defaults, **values}))
    db.session.add_all(rows)
    db.session.commit()
    return rows


def _numbers(html: str) -> list[str]:
    return re.findall(r"/admin/aftersales/(AS[A-Za-z0-9]+)\"", html)


def _next(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_pages_follow_each_other_without_gaps_or_repeats(app, buyer, staff):
    cases = _cases(shipped_order(buyer), 2 * queue.PAGE + 7)
    s = client_for(app, staff)
    seen, url, pages = [], "/admin/aftersales/?reason=quality", 0
    while url:
        html = s.get(url).get_data(as_text=True)
        seen += _numbers(html)
        url = _next(html)
        pages += 1
        if url:
            assert "after=" in url and "reason=quality" in url and "page=" not in url
    assert pages == 3
    assert seen == [c.number for c in sorted(cases, key=lambda c: (c.created_at, c.id))]


def test_keyset_respects_filters_and_an_unknown_anchor(app, buyer, staff):
    order = shipped_order(buyer)
    _cases(order, 5)
    closed = _cases(order, 3, status="rejected", kind="return_refund")
    rows, more = queue.staff_queue(queue.QueueFilters(status="rejected", after=closed[0].id))
    assert [c.id for c in rows] == [c.id for c in closed[1:]] and not more
    assert queue.staff_queue(queue.QueueFilters(after=10**9)) == ([], False)
    # The API's OFFSET pages still work for its existing clients.
    assert queue.staff_queue(queue.QueueFilters(status="all", page=2)) == ([], False)


def test_api_continues_after_a_case(app, buyer, staff):
    from tests.orders.factories import make_token

    cases = _cases(shipped_order(buyer), 4)
    r = app.test_client().get(f"/api/v1/admin/aftersales/cases?after={cases[1].id}", headers=make_token(staff))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert [c["number"] for c in r.get_json()] == [c.number for c in cases[2:]]


def test_dashboard_counts_stop_at_the_cap(app, buyer, staff, monkeypatch):
    order = shipped_order(buyer)
    _cases(order, 4, escalated=True)
    assert queue.open_counts() == {"open": 4, "overdue": 4, "escalated": 4}
    monkeypatch.setattr(queue, "COUNT_CAP", 3)
    assert queue.open_counts() == {"open": "3+", "overdue": "3+", "escalated": "3+"}
    html = client_for(app, staff).get("/admin/").get_data(as_text=True)
    assert "3+" in html


def test_queue_statements_do_not_grow_with_rows(app, buyer, staff, owner):
    from tests.perf.conftest import count_queries

    order = shipped_order(buyer)
    cases = _cases(order, 30, assignee_id=staff.id) + _cases(order, 30, assignee_id=owner.id)
    s = client_for(app, staff)
    s.get("/admin/aftersales/")
    after = cases[3].id
    with count_queries() as seen:
        html = s.get(f"/admin/aftersales/?after={after}").get_data(as_text=True)
    assert (staff.name or staff.email) in html and (owner.name or owner.email) in html
    print(len(seen), *seen, sep="\n")
    # Assignee names come from the staff list: no user load per row.
    assert len(seen.matching(r"FROM users WHERE users.id")) <= 1  # the signed-in user only
    assert len(seen.matching(r"FROM aftersales_cases")) == 3  # anchor, page, overdue marks
    # A row comparison seeks the page (SQLite's dialect writes "LIMIT ? OFFSET ?" with 0 anyway).
    page = seen.matching(r"ORDER BY aftersales_cases.created_at")[0]
    assert "(aftersales_cases.created_at, aftersales_cases.id) > (" in page
    # The open statuses are literals, so the partial index of open cases can serve the page.
    assert "'requested'" in page and "'inspected'" in page
    assert len(seen) <= 7

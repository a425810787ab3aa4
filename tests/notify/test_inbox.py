from __future__ import annotations

from storefront.extensions import db
from storefront.notify.models import InboxMessage
from storefront.notify.services import inbox_page, mark_read, unread_count
from tests.factories import make_user


def _messages(user, n):
    rows = [InboxMessage(user_id=user.id, kind="order_paid", subject=f"s{i}", body="b") for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def test_pages_newest_first_and_only_own(app):
    me, other = make_user(), make_user()
    ids = _messages(me, 25)
    _messages(other, 3)
    page, next_after = inbox_page(me, limit=20)
    assert [m.id for m in page] == sorted(ids, reverse=True)[:20]
    page2, last = inbox_page(me, after=next_after, limit=20)
    assert [m.id for m in page2] == sorted(ids, reverse=True)[20:]
    assert last is None


def test_unread_and_mark_read(app):
    me, other = make_user(), make_user()
    ids = _messages(me, 3)
    other_ids = _messages(other, 2)
    assert unread_count(me) == 3
    assert mark_read(me, [ids[0], other_ids[0]]) == 1  # another user's id is ignored
    db.session.commit()
    assert unread_count(me) == 2 and unread_count(other) == 2
    assert mark_read(me) == 2
    db.session.commit()
    assert unread_count(me) == 0

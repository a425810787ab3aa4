from __future__ import annotations

from sqlalchemy import select

from storefront.extensions import db
from storefront.notify.models import InboxMessage
from tests.factories import login, make_user


def _message(user, subject: str) -> InboxMessage:
    row = InboxMessage(user_id=user.id, kind="note", subject=subject, body=f"Body of {subject}")
    db.session.add(row)
    db.session.commit()
    return row


def _unread_ids(user) -> list[int]:
    db.session.expire_all()
    return list(db.session.execute(select(InboxMessage.id).where(
        InboxMessage.user_id == user.id, InboxMessage.read_at.is_(None)).order_by(InboxMessage.id)).scalars())


def test_messages_need_sign_in(client):
    assert client.get("/account/messages").status_code == 302


def test_shows_only_own_messages_newest_first(client):
    me, other = make_user(), make_user()
    _message(me, "First note")
    _message(other, "Someone else's secret")
    _message(me, "Second note")
    login(client, me)
    response = client.get("/account/messages")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Someone else" not in page
    assert page.index("Second note") < page.index("First note")


def test_get_does_not_mark_read(client):
    me = make_user()
    ids = [_message(me, f"Note {i}").id for i in range(2)]
    login(client, me)
    client.get("/account/messages")
    assert _unread_ids(me) == ids


def test_keyset_pagination(client):
    me = make_user()
    for i in range(23):
        _message(me, f"Note #{i:02d}")
    login(client, me)
    first = client.get("/account/messages").get_data(as_text=True)
    assert "Note #22" in first and "Note #03" in first and "Note #02" not in first
    assert 'rel="next"' in first
    after = first.split('rel="next"')[0].rsplit("after=", 1)[1].split('"')[0]
    second = client.get(f"/account/messages?after={after}").get_data(as_text=True)
    assert "Note #02" in second and "Note #00" in second and "Note #03" not in second
    assert 'rel="next"' not in second


def test_mark_read_one_and_all(client):
    me, other = make_user(), make_user()
    a, b = _message(me, "A"), _message(me, "B")
    theirs = _message(other, "Theirs")
    login(client, me)
    assert client.post("/account/messages/read", data={"message_id": str(a.id)}).status_code == 302
    assert _unread_ids(me) == [b.id]
    # Another buyer's message id is silently ignored.
    client.post("/account/messages/read", data={"message_id": str(theirs.id)})
    assert _unread_ids(other) == [theirs.id]
    client.post("/account/messages/read", data={"all": "1"})
    assert _unread_ids(me) == []
    assert _unread_ids(other) == [theirs.id]

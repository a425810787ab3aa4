"""``reuse_signal.WriteWatch``: every watch sees the shop's statements through one
listener per engine event, and each counts, marks and signals only its own writes."""
from __future__ import annotations

from sqlalchemy import text

from storefront import reuse_signal
from storefront.database import write_transaction
from storefront.extensions import db


def _listeners() -> tuple[int, int]:
    # an engine's listeners include those set on the Engine class, where the watches listen
    return len(list(db.engine.dispatch.before_cursor_execute)), len(list(db.engine.dispatch.commit))


def test_a_new_watch_adds_no_listener_and_sees_only_its_own_writes(app):
    signalled = []
    before = _listeners()
    watch = reuse_signal.WriteWatch("test_audit", lambda s: s.lstrip().upper().startswith("UPDATE USERS"),
                                    lambda: signalled.append(True))
    watch.listen()
    try:
        assert _listeners() == before
        with write_transaction():
            db.session.execute(text("UPDATE settings SET value = value WHERE key = 'nothing'"))
            assert watch.writes == 0 and not watch.open_here()
            db.session.execute(text("UPDATE users SET name = name WHERE id = 0"))
            assert watch.writes == 1 and watch.open_here()  # this request has it open
        # counted again at the commit and after it, and the host's other workers told
        assert watch.writes == 3 and not watch.open_here() and signalled == [True]
        with write_transaction():
            db.session.execute(text("UPDATE users SET name = name WHERE id = 0"))
            db.session.rollback()
        assert watch.writes == 5 and not watch.open_here() and signalled == [True]  # no commit, no signal
    finally:
        reuse_signal._WATCHES.remove(watch)

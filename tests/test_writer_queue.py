"""SQLite writers queue on a file lock (storefront/writer_queue.py) before BEGIN IMMEDIATE.

What is checked: a write transaction holds the queue from its first statement until it has
committed or rolled back, a plain read never takes it, a second writer waits in the queue
(not in SQLite's busy handler) and starts on what the first committed, and a forked process
does not share its parent's lock."""
from __future__ import annotations

import fcntl
import multiprocessing
import threading

import pytest
from sqlalchemy import func, select, text

from storefront import writer_queue
from storefront.accounts.models import User
from storefront.database import write_transaction
from storefront.extensions import db
from tests.conftest import is_postgres
from tests.races import signal_when_queued, start_thread

WAIT = 30

sqlite_only = pytest.mark.skipif(is_postgres(), reason="the writers' queue is SQLite's; PostgreSQL locks rows")


def _queue_path() -> str:
    path = writer_queue.lock_path(db.engine.url.database)
    assert path is not None
    return path


def _queue_is_free() -> bool:
    """Whether another writer (another open file, as another process has) could take the queue now."""
    with open(_queue_path(), "ab") as other:
        try:
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        return True


def test_only_file_databases_on_posix_have_a_queue(app):
    assert writer_queue.lock_path("/srv/shop.db") == "/srv/shop.db-writers.lock"
    for database in (None, "", ":memory:", "file:shop?mode=memory&cache=shared"):
        assert writer_queue.lock_path(database) is None
    # PostgreSQL's url names a database on a server, not a file: the engine never queues.
    if is_postgres():
        with write_transaction():
            db.session.execute(text("SELECT 1"))
            assert getattr(writer_queue._local, "held", None) is None


@sqlite_only
def test_a_write_transaction_holds_the_queue_until_it_commits(app):
    with write_transaction():
        db.session.execute(text("SELECT 1"))
        assert not _queue_is_free()
    assert _queue_is_free()


@sqlite_only
def test_a_rolled_back_write_transaction_lets_the_next_writer_in(app):
    with pytest.raises(RuntimeError):
        with write_transaction():
            db.session.execute(text("SELECT 1"))
            raise RuntimeError("refused half-way")
    assert _queue_is_free()
    with write_transaction():  # and this thread can queue again
        db.session.execute(text("SELECT 1"))
        assert not _queue_is_free()
    assert _queue_is_free()


@sqlite_only
def test_a_nested_write_transaction_keeps_the_queue_until_the_outer_one_ends(app):
    with write_transaction():
        db.session.execute(text("SELECT 1"))
        with write_transaction():
            db.session.execute(text("SELECT 1"))
        assert not _queue_is_free()
    assert _queue_is_free()


@sqlite_only
def test_reads_do_not_queue(app):
    db.session.execute(select(func.count(User.id))).scalar_one()
    assert _queue_is_free()
    db.session.commit()


@sqlite_only
def test_a_second_writer_waits_in_the_queue_and_sees_the_first_ones_commit(app, monkeypatch):
    first_wrote = threading.Event()
    second_queued = signal_when_queued(monkeypatch, "second")

    def first():
        with write_transaction():
            user = User(email="first@example.com", name="First", phone="13800000001")
            user.set_password("a long enough password")
            db.session.add(user)
            db.session.flush()
            first_wrote.set()
            # Hold the transaction until the second writer is queued behind it.
            assert second_queued.wait(WAIT), "the second writer never queued"
        return "committed"

    def second():
        assert first_wrote.wait(WAIT)
        with write_transaction():
            return db.session.execute(select(func.count(User.id))).scalar_one()

    results: dict = {}
    threads = [start_thread(app, "first", first, results), start_thread(app, "second", second, results)]
    for thread in threads:
        thread.join(WAIT)
    assert results == {"first": "committed", "second": 1}
    assert _queue_is_free()


def _try_the_queue_from_a_fork(path: str, answer) -> None:
    handle = writer_queue._handle(path)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        answer.send("waits")
    else:
        answer.send("got it")


@sqlite_only
def test_a_forked_process_does_not_share_its_parents_place_in_the_queue(app):
    path = _queue_path()
    writer_queue.acquire(path)  # the parent's handle now exists and holds the lock
    try:
        receive, send = multiprocessing.Pipe(duplex=False)
        child = multiprocessing.get_context("fork").Process(target=_try_the_queue_from_a_fork, args=(path, send))
        child.start()
        child.join(WAIT)
        assert receive.recv() == "waits"
    finally:
        writer_queue.release()
    assert _queue_is_free()

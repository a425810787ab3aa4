"""Reads run outside a transaction, and a transaction begins at the first write
(``database.configure_engine``), on SQLite and PostgreSQL. What a transaction guaranteed
before still holds: every write from its first statement to the commit is all or nothing,
a write transaction's reads are inside it, a locking read holds its lock until the
commit, and the pool hands out every connection the same way."""
from __future__ import annotations

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import IntegrityError

from storefront.accounts.models import User
from storefront.database import write_transaction
from storefront.extensions import db
from tests.conftest import is_postgres
from tests.factories import make_product, make_user, sign_in

postgres_only = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL's locks and psycopg's connections")


def _in_transaction(dbapi_connection) -> bool:
    if isinstance(dbapi_connection, psycopg.Connection):
        return dbapi_connection.info.transaction_status != TransactionStatus.IDLE
    return dbapi_connection.in_transaction


class TransactionWatch:
    """Whether the driver's connection was inside a transaction right after each statement
    the engine sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def __call__(self, conn, cursor, statement, *_args) -> None:
        self.seen.append((statement.split(None, 1)[0].upper(), _in_transaction(cursor.connection)))

    def __enter__(self):
        event.listen(db.engine, "after_cursor_execute", self)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(db.engine, "after_cursor_execute", self)


def _other_connection():
    url = db.engine.url.set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def test_a_page_reads_without_opening_a_transaction(app, client):
    buyer = make_user()
    sku = make_product(stock=5).skus[0]
    sign_in(client, buyer)
    assert client.post("/cart/add", data={"sku_id": sku.id, "quantity": "2"}).status_code in (302, 303)

    with TransactionWatch() as watch:
        page = client.get("/cart/")
    assert page.status_code == 200 and "T-shirt" in page.get_data(as_text=True)
    reads = [inside for verb, inside in watch.seen if verb == "SELECT"]
    assert reads and not any(reads), watch.seen


def test_a_write_transaction_runs_as_one_from_its_first_read(app):
    user = make_user(name="Before")
    db.session.commit()
    with TransactionWatch() as watch:
        with pytest.raises(RuntimeError):
            with write_transaction():
                db.session.execute(select(User.id).where(User.id == user.id))
                db.session.execute(update(User).where(User.id == user.id).values(name="Half"))
                raise RuntimeError("a later step fails")
    assert [verb for verb, _status in watch.seen][-2:] == ["SELECT", "UPDATE"], watch.seen
    assert all(inside for _verb, inside in watch.seen), watch.seen
    assert db.session.scalar(select(User.name).where(User.id == user.id)) == "Before"


def test_a_write_outside_write_transaction_is_all_or_nothing(app):
    taken = make_user(email="taken@example.com")
    db.session.commit()
    assert db.session.scalar(select(User.id).where(User.id == taken.id))  # a read first, outside
    db.session.execute(insert(User).values(email="first@example.com", password_hash="x", name="First"))
    with pytest.raises(IntegrityError):
        db.session.execute(insert(User).values(email="taken@example.com", password_hash="x", name="Dup"))
    db.session.rollback()
    assert db.session.scalar(select(User.id).where(User.email == "first@example.com")) is None


@postgres_only
def test_a_locking_read_holds_its_lock_until_the_commit(app):
    user = make_user()
    db.session.commit()
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    with _other_connection() as other:
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("SELECT id FROM users WHERE id = %s FOR UPDATE NOWAIT", (user.id,))
        db.session.commit()
        assert other.execute("SELECT id FROM users WHERE id = %s FOR UPDATE NOWAIT", (user.id,)).fetchone()


@postgres_only
def test_the_pool_hands_every_connection_out_reading_outside_a_transaction(app):
    raw = db.engine.raw_connection()
    raw.driver_connection.autocommit = False  # as the bulk data writer does
    raw.cursor().execute("SELECT 1")
    assert raw.driver_connection.info.transaction_status == TransactionStatus.INTRANS
    raw.close()
    again = db.engine.raw_connection()
    try:
        assert again.driver_connection.autocommit is True
        assert again.driver_connection.info.transaction_status == TransactionStatus.IDLE
    finally:
        again.close()


sqlite_only = pytest.mark.skipif(is_postgres(), reason="SQLite's write-ahead log")


@sqlite_only
def test_a_reader_between_statements_does_not_hold_back_a_checkpoint(app):
    """A request's reads leave no snapshot open, so a checkpoint can reset the log under a
    sale's steady reads (with an open read transaction, TRUNCATE reports the log busy)."""
    import sqlite3

    user = make_user()
    db.session.commit()
    db.session.execute(update(User).where(User.id == user.id).values(name="Logged"))
    db.session.commit()  # something in the log to checkpoint
    assert db.session.scalar(select(User.name).where(User.id == user.id)) == "Logged"  # read, not committed
    other = sqlite3.connect(db.engine.url.database, timeout=5)
    try:
        busy, _log, _moved = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0

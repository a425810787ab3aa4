"""Database plumbing: SQLite tuning, write transactions and after-commit callbacks."""
from __future__ import annotations

import contextvars
import functools
import os
import re
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from flask import current_app
from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.base import manager_of_class
from sqlalchemy.orm.state import InstanceState

from . import joined_rows, writer_queue
from .extensions import db
from .joined_rows import build_loaded, row_key

# When set, the next transaction on SQLite starts with BEGIN IMMEDIATE: a
# deferred transaction that reads and then writes fails at once under
# concurrency (busy_timeout cannot help a stale snapshot), one that takes the
# write lock first simply waits its turn.
_immediate: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_immediate", default=False)


def configure_engine(engine: Engine) -> None:
    """Reads run outside a transaction; a transaction begins at the first write.

    A request that only reads (a cart page, a product list) then sends no BEGIN and no
    ROLLBACK: on PostgreSQL two of a cart page's eight round trips. Under READ COMMITTED
    every statement takes its own snapshot inside a transaction too, so a read sees the
    same rows either way; on SQLite a read no longer pins the WAL, which a checkpoint
    cannot reset past a reader's snapshot. What a transaction gives, this keeps: a
    :func:`write_transaction`, any other write, a locking read (``FOR UPDATE``, held until
    the commit) and a server-side cursor begin one, and everything from there to the
    commit is one all-or-nothing transaction. ``commit()`` and ``rollback()`` of a
    connection outside a transaction send nothing.
    """
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - trivial
        # Let this module, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    queue = writer_queue.lock_path(engine.url.database)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if not _immediate.get():
            return  # the first write begins it (below)
        if queue:  # released by write_transaction once the transaction has ended
            writer_queue.acquire(queue)
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_write(conn, cursor, statement, _parameters, _context, _executemany):
        # BEGIN, not BEGIN IMMEDIATE: a transaction that starts with its write holds no
        # older snapshot, so waiting for the lock (busy_timeout) is all it can meet.
        if not cursor.connection.in_transaction and _opens_transaction(statement):
            cursor.connection.execute("BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    from psycopg import ServerCursor
    from psycopg.pq import TransactionStatus

    idle = TransactionStatus.IDLE

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, _record):
        # Back to reads outside a transaction for the next user, whoever switched it off (a
        # raw connection's bulk load, an isolation level set for one connection). The pool
        # has rolled back by now; a connection it could not reset is not reused anyway.
        if dbapi_connection is not None and not dbapi_connection.closed \
                and dbapi_connection.pgconn.transaction_status == idle:
            dbapi_connection.autocommit = True

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_write(conn, cursor, statement, _parameters, _context, _executemany):
        if cursor.connection.pgconn.transaction_status != idle:
            return
        # A write transaction begins at its first statement, a read included: its reads
        # and writes are one transaction, as SQLite's BEGIN IMMEDIATE makes them.
        if _immediate.get() or _opens_transaction(statement) or isinstance(cursor, ServerCursor):
            cursor.connection.execute("BEGIN")


_LOCKING_READ = re.compile(r"\bFOR\s+(NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=2048)
def _opens_transaction(statement: str) -> bool:
    """Whether a statement must run inside a transaction: anything but a plain read.
    (SQLite's own BEGIN IMMEDIATE and its PRAGMAs run where they are sent.)"""
    head = statement.lstrip()[:6].upper()
    if head.startswith(("BEGIN", "PRAGMA")):
        return False
    if head not in ("SELECT", "SHOW"):
        return True
    return bool(_LOCKING_READ.search(statement))


@contextmanager
def write_transaction(keep: Iterable[object] = (), *, keep_after: bool = False) -> Iterator[Session]:
    """Run a block as one short write transaction and commit it.

    Whatever the request read before is committed (it wrote nothing) so the
    block starts on a fresh snapshot holding the write lock on SQLite. Any
    exception rolls the whole block back: nothing half-written survives.
    A nested ``write_transaction`` joins the outer one.
    Callbacks registered with :func:`after_commit` run once it has committed,
    outside the transaction, so they may open write transactions of their own.

    ``keep`` are objects the block may use as they were read (e.g. the
    signed-in buyer whose id and e-mail it copies): the opening commit does
    not expire them, so using them costs no reload. Anything whose current
    state matters must not be kept; guards belong in conditional UPDATEs.
    Objects passed to :func:`keep_after_commit` inside the block survive the
    closing commit the same way; ``keep_after=True`` does that for ``keep``
    (for objects the block does not write, such as the signed-in buyer).
    """
    session = db.session
    if _immediate.get():
        # Nested use joins the outer transaction: committing half-way would
        # break the all-or-nothing promise of the outer block.
        yield session
        return
    keep = tuple(obj for obj in (*keep, *session.info.pop(_KEEP_NEXT, ())) if obj is not None)
    _commit_keeping(session, keep)
    token = _immediate.set(True)
    try:
        if keep_after:
            keep_after_commit(*keep)
        yield session
        _commit_keeping(session, session.info.pop("keep_after_commit", ()))
    except BaseException:
        session.info.pop("keep_after_commit", None)
        session.rollback()
        raise
    finally:
        writer_queue.release()
        _immediate.reset(token)
    run_after_commit_callbacks()


def keep_through_next_write(*objects) -> None:
    """Objects this request read for a decision its next write transaction checks again
    in conditional UPDATEs (a presale campaign as the checkout priced it, guarded by the
    quota's UPDATE): that transaction's opening commit leaves them as read, like its
    ``keep``, so using them inside costs no reload."""
    db.session.info.setdefault(_KEEP_NEXT, []).extend(objects)


_KEEP_NEXT = "keep_through_next_write"


def keep_after_commit(*objects) -> None:
    """Inside a write transaction: these objects hold exactly what the
    transaction wrote, so its commit need not expire them (the response
    built from them then costs no reloads). Whoever wrote one of their rows
    with a Core UPDATE must have mirrored the values on the object
    (``set_committed_value``), or must not keep it."""
    if _immediate.get():
        db.session.info.setdefault("keep_after_commit", []).extend(objects)


def _commit_keeping(session, keep: Iterable[object]) -> None:
    kept = [obj for obj in keep if obj in session]
    if not kept:
        session.commit()
        return
    real = session()  # the scoped session's Session
    if not real.expire_on_commit:
        real.commit()
        return
    # The kept objects and what their "all" cascades reach (an order's loaded lines) are
    # left as read; everything else is expired as the commit would have. Taking the kept
    # ones out of the session and back in around the commit instead cost a tenth of a
    # flash order: each way walks every relationship of every kept object.
    real.flush()
    spared = _spared_states(kept)
    transaction = real.get_transaction()
    real.expire_on_commit = False
    try:
        real.commit()
    finally:
        real.expire_on_commit = True
    _expire_committed(real, transaction, spared)


def _spared_states(kept) -> set:
    """The states of ``kept`` and of what their "all" cascades hold loaded (an order's lines),
    as ``Mapper.cascade_iterator("expunge")`` finds them, without its generality: that walk
    cost a sixth of a flash order's commit bookkeeping."""
    spared: set = set()
    stack = [inspect(obj) for obj in kept]
    while stack:
        state = stack.pop()
        if state in spared:
            continue
        spared.add(state)
        loaded = state.dict
        for key, uselist in _expunge_cascades(state.mapper):
            value = loaded.get(key)
            if value is None:
                continue
            stack.extend(instance_state(child) for child in (value if uselist else (value,)) if child is not None)
    return spared


@functools.cache
def _expunge_cascades(mapper) -> tuple[tuple[str, bool], ...]:
    return tuple((rel.key, rel.uselist) for rel in mapper.relationships if rel.cascade.expunge)


def _expire_committed(real: Session, transaction, spared: set) -> None:
    """What ``Session.commit`` does after committing when ``expire_on_commit`` is on
    (SQLAlchemy's ``SessionTransaction._remove_snapshot``), the ``spared`` states left as
    they are: every other state in the session is expired, and the objects the transaction
    deleted are detached. ``tests/test_write_transaction_keep.py`` holds it to that."""
    modified = real.identity_map._modified
    for state in real.identity_map.all_states():
        if state not in spared:
            state._expire(state.dict, modified)
    if transaction is not None and transaction._deleted:
        InstanceState._detach_states(list(transaction._deleted), real)
        transaction._deleted.clear()


def insert_loaded(model, *rows: dict) -> list:
    """INSERT ``rows`` of ``model`` (Core, one statement) and return them as persistent
    objects, in ``rows``' order.

    For the hot write paths (checkout, payment): they hold the write lock that
    every other writer waits for, and the unit of work's flush (or an ORM
    bulk INSERT) costs several times the INSERT it sends. Each row is
    completed with its columns' Python defaults first, so the database and
    the object hold the same values and nothing is loaded again (a column
    left to a server default is expired: reading it loads it). The objects'
    relationships are not set: assign collections the caller wrote with
    ``set_committed_value``.
    """
    if not rows:
        return []
    (pk_key, pk_attr), columns, statement, as_loaded = _insert_columns(model)
    full = []
    for row in rows:
        values, given = {}, 0
        for key, attr, default, server_default in columns:
            if attr in row:
                values[attr] = row[attr]
                given += 1
            elif default is not None:
                values[attr] = default.arg({}) if default.is_callable else default.arg
            elif not server_default:
                values[attr] = None
        if given < len(row):  # a misspelt column would otherwise be dropped unnoticed
            unknown = sorted(set(row) - {attr for _key, attr, _default, _server in columns})
            if unknown:
                raise TypeError(f"{model.__name__} has no column attribute {', '.join(unknown)}")
        full.append(values)
    keys = {attr: key for key, attr, _default, _server in columns}
    # On the session's connection: the statement is built once, and no ORM execution
    # (autoflush, bulk-persistence dispatch) runs for it.
    # The ids off the rows: ``.scalars()`` rebuilds the result's metadata for one column on every call.
    ids = [row[0] for row in db.session.connection().execute(
        statement, [{keys[attr]: value for attr, value in values.items()} for values in full])]
    objects = []
    manager = manager_of_class(model)
    session = db.session()
    server_only = [attr for _key, attr, default, server_default in columns if server_default and default is None]
    for values, new_id in zip(full, ids):
        # The row is new, so an object already holding its key is stale (its row was rolled
        # back or deleted, and the id handed out again); a flush would replace it too.
        stale = session.identity_map.get(row_key(model, (new_id,)))
        if stale is not None:
            session.expunge(stale)
        if as_loaded:
            # Built as the ORM builds a loaded row, not with the constructor: its per-attribute
            # change tracking, discarded at once, cost five times the rest (an order's 33
            # columns: 69 -> 14 µs).
            obj = build_loaded(session, manager, {**values, pk_attr: new_id}, (new_id,),
                               [attr for attr in server_only if attr not in values])
        else:  # a model with its own __init__ or validators gets them run
            obj = model(**{pk_attr: new_id}, **values)
            make_transient_to_detached(obj)  # as if loaded: nothing pending to flush
            session.add(obj)
        objects.append(obj)
    # A rollback must forget them as it forgets flushed objects: the database may hand
    # their ids out again (SQLite reuses a rolled-back rowid). A savepoint's rollback
    # forgets only what was written inside it.
    where = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault("inserted_loaded", []).extend((where, obj) for obj in objects)
    return objects


def get_by_pk(model, *ident):
    """``db.session.get(model, ident)`` for the hot read paths: the row with this primary key, or None.

    An object this session already holds (and has not expired) is returned without a
    query, as ``Session.get`` does. Otherwise one statement, built once per model, is
    run: ``Session.get`` builds and keys a new statement on every miss (about 30 µs,
    a third of what it costs on SQLite), and every signed-in page misses once for its
    buyer.
    """
    session = db.session()
    held = session.identity_map.get(row_key(model, ident))
    if held is not None and not inspect(held).expired and held not in session.deleted:
        return held
    entities, stmt, names = _pk_query(model)
    rows = joined_rows.read(session, stmt, dict(zip(names, ident)))
    return entities.objects(session, rows[0])[0] if rows else None


@functools.cache
def _pk_query(model) -> tuple:
    # Read in Core and built as a loaded row (storefront.joined_rows): the ORM's loading
    # of one row cost as much as the query (a SKU: 78 -> 37 µs).
    entities = joined_rows.JoinedEntities(model)
    columns = inspect(model).primary_key
    names = tuple(f"pk_{column.key}" for column in columns)
    stmt = select(*entities.columns).where(*(column == bindparam(name) for column, name in zip(columns, names)))
    return entities, stmt, names


_INSERT_COLUMNS: dict[type, tuple] = {}


def _insert_columns(model) -> tuple:
    """((primary key column, its attribute), [(column key, attribute, Python default, has a
    server default)] for the other columns, the INSERT ... RETURNING primary key, whether
    objects may be built as loaded rows: no ``__init__`` or validators of the model's own),
    per model."""
    known = _INSERT_COLUMNS.get(model)
    if known is None:
        # insert_loaded builds objects without their constructor, which is what would
        # otherwise set the mappers up: in a worker whose first statement is its INSERT
        # the attributes would not be instrumented yet.
        configure_mappers()
        mapper = inspect(model)
        table = model.__table__
        (pk,) = table.primary_key.columns
        known = _INSERT_COLUMNS[model] = (
            (pk.key, mapper.get_property_by_column(pk).key),
            [(column.key, mapper.get_property_by_column(column).key, column.default,
              column.server_default is not None) for column in table.columns if column is not pk],
            table.insert().returning(pk, sort_by_parameter_order=True),
            _constructed_by_the_orm(model, mapper))
    return known


def _constructed_by_the_orm(model, mapper) -> bool:
    """Whether ``model`` leaves construction to the ORM: the declarative constructor and no
    validators. The class's ``__init__`` is always SQLAlchemy's generated wrapper, so it is
    compared with the one the mapping installed (something patched over it is the model's
    own), and the wrapped one with the registry's constructor."""
    manager = manager_of_class(model)
    return (model.__init__ is manager.new_init and manager.original_init is mapper.registry.constructor
            and not mapper.validators)


def loaded_id(row) -> int:
    """``row.id`` without a reload: every commit of :func:`write_transaction` expires loaded
    rows, and reading an expired row's id would cost a SELECT; its identity key keeps it."""
    state = inspect(row, raiseerr=False)
    if state is not None and state.key is not None:
        return state.identity[0]
    return row.id


def lock_row(model, row_id: int) -> None:
    """Inside a write transaction: hold ``model``'s row ``row_id`` until the commit.

    For checks that read other rows than the ones they write (a count, an
    overlap, "is there an open case"): every writer of that kind locks the
    same row first, so they run one at a time. SQLite's BEGIN IMMEDIATE already
    runs writers one at a time (it omits FOR UPDATE); PostgreSQL's READ
    COMMITTED does not, and without the lock two of them would both pass."""
    db.session.execute(select(model.id).where(model.id == row_id).with_for_update())


def for_update(stmt):
    """``stmt`` (a SELECT of ORM rows) as a locked read of values about to be written back.

    ``populate_existing``: a copy of the row this session already holds (from
    an eager load, or a refresh that repeated one) would otherwise keep its
    stale values after the locked read, and the write would lose an update."""
    return stmt.with_for_update().execution_options(populate_existing=True)


def in_write_transaction() -> bool:
    """True inside a :func:`write_transaction` block."""
    return _immediate.get()


def after_commit(callback: Callable[[], None], *, once: bool = False) -> None:
    """Run ``callback`` once the current transaction commits; drop it on rollback.

    ``once``: not again if the transaction already has it (a payment that queues
    several messages asks for one delivery pass)."""
    pending = db.session.info.setdefault("after_commit", [])
    if not (once and callback in pending):
        pending.append(callback)


def run_after_commit_callbacks() -> None:
    """Run callbacks of transactions that have committed (errors are logged)."""
    session = db.session
    while session.info.get("committed_callbacks"):
        callback = session.info["committed_callbacks"].pop(0)
        try:
            callback()
        except Exception:  # a notification must never undo a committed order
            current_app.logger.exception("after-commit callback failed")


def install_session_hooks() -> None:
    """Wire after-commit bookkeeping into the Session class (idempotent)."""
    if getattr(install_session_hooks, "_done", False):
        return
    install_session_hooks._done = True  # type: ignore[attr-defined]

    @event.listens_for(Session, "after_commit")
    def _promote(session: Session) -> None:
        # No SQL may run inside this event, so callbacks only move to the
        # "committed" list; write_transaction and request teardown run them.
        pending = session.info.pop("after_commit", None)
        if pending:
            session.info.setdefault("committed_callbacks", []).extend(pending)

        session.info.pop("inserted_loaded", None)

    @event.listens_for(Session, "after_rollback")
    def _drop(session: Session) -> None:
        session.info.pop("after_commit", None)

    @event.listens_for(Session, "after_soft_rollback")
    def _forget_inserted(session: Session, rolled_back) -> None:
        # insert_loaded's objects, as a rollback forgets flushed ones: all of them when the
        # whole transaction rolls back, those written inside a savepoint when it does.
        inserted = session.info.get("inserted_loaded")
        if not inserted:
            return
        whole = rolled_back.parent is None
        kept = []
        for where, obj in inserted:
            if whole or where is rolled_back:
                if obj in session:
                    session.expunge(obj)
            else:
                kept.append((where, obj))
        session.info["inserted_loaded"] = kept


# -- migrations ------------------------------------------------------------
# The core's Alembic branch lives in migrations/versions; every installed
# plugin brings its own branch (Plugin.migrations). Alembic needs all of them
# as version_locations *before* it builds its revision map, so they are set
# from a Flask-Migrate configure callback (it runs for every `flask db ...`
# command and for flask_migrate.upgrade()), not in env.py, which runs later.

def migration_locations(app) -> list[str]:
    """The core's versions folder followed by each installed plugin's branch folder."""
    from .plugins.host import get_host

    directory = app.extensions["migrate"].directory
    locations = [os.path.abspath(os.path.join(directory, "versions"))]
    for manifest in get_host(app).plugins.values():
        if manifest.migrations:
            path = os.path.abspath(manifest.migrations)
            if path not in locations:
                locations.append(path)
    return locations


def configure_alembic(config):
    """Flask-Migrate configure callback: point Alembic at every branch."""
    if "storefront" not in current_app.extensions:  # another app sharing Flask-Migrate
        return config
    joined = os.pathsep.join(migration_locations(current_app))
    # ConfigParser interpolation: a literal % must be doubled.
    config.set_main_option("version_locations", joined.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def upgrade_database(revision: str = "heads") -> None:
    """Upgrade every branch (core and plugins); ``flask db upgrade`` alone means
    "head", which Alembic refuses once plugins add branches."""
    from alembic import command

    # alembic.command directly: flask_migrate.upgrade() turns errors into sys.exit(1).
    config = current_app.extensions["migrate"].migrate.get_config()
    command.upgrade(config, revision)

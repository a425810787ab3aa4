"""Rows read in Core and handed out as the session's objects, as the ORM's loading would.

For the hottest reads (a row by its primary key; the buyer's cart with its lines, SKUs
and products; the SKU a buyer adds with its product) and writes (``insert_loaded``):
SQLAlchemy's ORM builds its row processors anew for every execution, which cost as
much as the query or more (one SKU: 78 µs against 37; a cart of two lines with joined
eager loads: 210 against 83). Here the columns are read in Core and each row's objects
are built as the ORM builds a loaded row (:func:`build_loaded`); a caller of
several models links them with ``set_committed_value``, as eager loads would have.

An object the session already holds is handed out, as the ORM's loading hands it:
its loaded values and collections are not overwritten, and its expired attributes (a
commit of this request expired them) are set from the row. Deferred columns are left
out, as the ORM leaves them: reading one loads it.
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Iterable, Sequence

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.base import manager_of_class

from .extensions import db


def read(session: Session, statement, params: dict) -> list:
    """``statement``'s rows, run on the session's connection after the autoflush an ORM
    query would have done (the session's pending changes are what it must see)."""
    return run(session, statement, params).all()


def run(session: Session, statement, params: dict):
    """``session.execute(statement, params)`` on the session's connection, after the same
    autoflush: for a statement built once, an UPDATE of a model included. Through the
    session, an ORM-enabled UPDATE is copied and keyed anew on every execution (a
    payment's two: 40 µs each, against 14 on the connection)."""
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection().execute(statement, params)


def scalars(statement, params: dict) -> list:
    """The objects a ``select(Model)`` statement (one model, no loader options, built once
    by the caller) loads, in its order: read in Core, built as loaded rows."""
    session = db.session()
    entities, core = _core_of(statement)
    return [entities.objects(session, row)[0] for row in read(session, core, params)]


def one_or_none(statement, params: dict):
    """:func:`scalars`' one object, or None; more than one row is an error, as the ORM's."""
    found = scalars(statement, params)
    if len(found) > 1:
        raise MultipleResultsFound("Multiple rows were found when one or none was required")
    return found[0] if found else None


_CORE_OF: dict[int, tuple] = {}


def _core_of(statement) -> tuple:
    """``statement`` with its model's columns instead of the model, and the model's
    :class:`JoinedEntities`; kept per statement object (the caller's is built once)."""
    known = _CORE_OF.get(id(statement))
    if known is None or known[0] is not statement:
        (description,) = statement.column_descriptions
        model = description["entity"]
        eager = [rel.key for rel in inspect(model).relationships if rel.lazy not in ("select", "raise", "noload",
                                                                                    "raise_on_sql", "dynamic", "write_only")]
        if eager:  # the ORM would load them along; read them with JoinedEntities and link()
            raise TypeError(f"{model.__name__} loads {', '.join(eager)} eagerly")
        entities = JoinedEntities(model)
        known = (statement, entities, statement.with_only_columns(*entities.columns))
        if len(_CORE_OF) < 256:  # a statement built per call would otherwise grow it
            _CORE_OF[id(statement)] = known
    return known[1], known[2]


def link(obj, key: str, value) -> None:
    """Set ``obj``'s relationship ``key`` to ``value`` as loaded, as an eager load would:
    unless the session's object already has it loaded."""
    if key not in obj.__dict__:
        set_committed_value(obj, key, value)


def load_collection(parents: Sequence, attribute) -> None:
    """What ``selectinload(attribute)`` does for ``parents`` (a one-to-many relationship on one
    foreign key column): every parent's collection loaded in one statement, in the
    relationship's order, the statement built once per relationship. A parent whose
    collection this session already holds keeps it, as with the loader option."""
    relationship = attribute.property
    (parent_column, child_column), = relationship.local_remote_pairs
    parent_key = relationship.parent.get_property_by_column(parent_column).key
    child_key = relationship.mapper.get_property_by_column(child_column).key
    wanting = {getattr(parent, parent_key): [] for parent in parents if relationship.key not in parent.__dict__}
    if not wanting:
        return
    ids = list(wanting)
    one = len(ids) == 1
    for child in scalars(_collection_query(relationship, one), {"parent": ids[0]} if one else {"parents": ids}):
        wanting[getattr(child, child_key)].append(child)
    for parent in parents:
        found = wanting.get(getattr(parent, parent_key))
        if found is not None:
            link(parent, relationship.key, found)


@functools.cache
def _collection_query(relationship, one: bool):
    (_parent_column, child_column), = relationship.local_remote_pairs
    # One parent's: a plain equality (an expanding IN costs its rendering on every execution).
    where = child_column == bindparam("parent") if one else child_column.in_(bindparam("parents", expanding=True))
    return (select(relationship.mapper.class_).where(where)
            .order_by(child_column, *(relationship.order_by or ())))


class JoinedEntities:
    """The columns of ``models`` in this order (``columns``, for a ``select(*columns)``) and
    the objects of one result row (:meth:`objects`). Set up at first use: the mappers must
    be configured by then (objects built without their constructor would otherwise meet
    uninstrumented attributes in a worker whose first query this is), and a module may
    create one before every model is imported."""

    def __init__(self, *models) -> None:
        self._models = models
        self._columns: list | None = None
        self._spans: list[tuple[Any, Any, int, int, tuple[str, ...], tuple[int, ...]]] = []
        self._setting_up = threading.Lock()

    @property
    def columns(self) -> list:
        if self._columns is None:
            self._set_up()
        return self._columns

    def _set_up(self) -> None:
        # A gthread worker's threads meet a module's instance at its first use together: set
        # up by two at once, it listed every model twice, and each later row of that worker
        # gave twice the objects (a flash's coupon and checkout calls answered 500 there).
        with self._setting_up:
            if self._columns is not None:
                return
            configure_mappers()
            columns_of_all: list = []
            spans = []
            for model in self._models:
                mapper = inspect(model)
                columns = [column for column in mapper.local_table.columns
                           if not mapper.get_property_by_column(column).deferred]
                keys = tuple(mapper.get_property_by_column(column).key for column in columns)
                start = len(columns_of_all)
                columns_of_all.extend(columns)
                spans.append((model, manager_of_class(model), start, len(columns_of_all), keys,
                              tuple(columns.index(pk) for pk in mapper.primary_key)))
            self._spans = spans
            self._columns = columns_of_all  # last: a reader that sees the columns sees the spans

    def objects(self, session: Session, row: Sequence, *, refresh: bool = False) -> list:
        """One object per model, None where an outer join found no row.

        ``refresh`` overwrites every column of an object the session holds with the row's
        value, as the ORM's ``populate_existing`` does (for a read whose decision must see
        the row as it is now, not as this request read it before)."""
        if self._columns is None:
            self._set_up()
        found = []
        identity_map = session.identity_map
        for model, manager, start, end, keys, pk_at in self._spans:
            ident = tuple(row[start + at] for at in pk_at)
            if None in ident:
                found.append(None)
                continue
            held = identity_map.get(row_key(model, ident))
            if held is not None:
                renew = keys if refresh else instance_state(held).expired_attributes
                if renew:
                    values = dict(zip(keys, row[start:end]))
                    for key in values.keys() & renew:
                        set_committed_value(held, key, values[key])
                found.append(held)
                continue
            found.append(build_loaded(session, manager, zip(keys, row[start:end]), ident))
        return found


def build_loaded(session: Session, manager, values, ident: tuple, expire: Iterable[str] = ()):
    """A persistent object of ``session`` for the row of the model whose class manager is
    ``manager`` (``manager_of_class(model)``) and whose primary key is ``ident``, holding
    ``values`` (its columns: a dict or (attribute, value) pairs), built as SQLAlchemy's
    loading builds a row it has not seen (``loading._instance``): no constructor, whose
    per-attribute change tracking would cost five times the rest; the identity key set, the
    ``expire`` columns (left out of the values) loaded when read, the state added to the identity map. Relationships load
    lazily when read, as for a loaded row.

    ``make_transient_to_detached`` and ``Session.add`` did the same with a walk over every
    relationship of the model each (17 µs for an order; a paid order builds eleven objects,
    every signed-in request one). The state's ``session_id`` and the identity map's
    ``_add_unpresent`` are private names, the ones loading itself uses; no attach events
    fire, and the shop listens to none. ``tests/test_insert_loaded.py`` holds the result to
    what the public calls left. The caller has made sure the session holds no object with
    that key."""
    obj = manager.new_instance()
    obj.__dict__.update(values)
    state = instance_state(obj)
    key = row_key(manager.class_, ident)
    state.key = key
    if expire:
        state.expired_attributes.update(expire)
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, key)
    return obj


def row_key(model, ident: tuple) -> tuple:
    """The session's identity key of ``model``'s row whose primary key is ``ident``, as
    ``Session.identity_key`` builds it, without its argument handling."""
    return (_identity_class(model), ident, None)


@functools.cache
def _identity_class(model) -> type:
    """The class in ``model``'s identity keys (its inheritance hierarchy's base)."""
    mapper = inspect(model)
    return mapper.identity_key_from_primary_key((0,) * len(mapper.primary_key))[0]

"""Several models' rows read side by side in one Core SELECT, handed out as the session's objects.

For the hottest reads of a few joined rows (the buyer's cart with its lines, SKUs and
products; the SKU a buyer adds with its product): SQLAlchemy's ORM builds its row
processors anew for every execution of a query with joined eager loads, which cost
more than the query (a cart of two lines: 210 µs against 50 for the same SELECT in
Core). Here the columns are read in Core and each row's objects are built as the ORM
builds a loaded row (:func:`storefront.database.attach_as_loaded`); the caller links
them with ``set_committed_value``, as the eager loads would have.

An object the session already holds is handed out, as the ORM's loading hands it:
its loaded values and collections are not overwritten, and its expired attributes (a
commit of this request expired them) are set from the row.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import inspect
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.base import manager_of_class

from .database import attach_as_loaded, row_key


def read(session, statement, params: dict) -> list:
    """``statement``'s rows, run on the session's connection after the autoflush an ORM
    query would have done (the session's pending changes are what it must see)."""
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection().execute(statement, params).all()


class JoinedEntities:
    """The columns of ``models`` in this order (``columns``, for a ``select(*columns)``) and
    the objects of one result row (:meth:`objects`)."""

    def __init__(self, *models) -> None:
        self.columns: list = []
        self._spans: list[tuple[Any, Any, int, int, tuple[str, ...], int]] = []
        for model in models:
            mapper = inspect(model)
            (pk,) = mapper.primary_key
            # A deferred column (a product's description) is left out, as the ORM leaves it:
            # reading it loads it.
            columns = [column for column in mapper.local_table.columns
                       if not mapper.get_property_by_column(column).deferred]
            keys = tuple(mapper.get_property_by_column(column).key for column in columns)
            start = len(self.columns)
            self.columns.extend(columns)
            self._spans.append((model, manager_of_class(model), start, len(self.columns), keys, columns.index(pk)))

    def objects(self, session, row: Sequence) -> list:
        """One object per model, None where an outer join found no row."""
        found = []
        identity_map = session.identity_map
        for model, manager, start, end, keys, pk_at in self._spans:
            ident = row[start + pk_at]
            if ident is None:
                found.append(None)
                continue
            held = identity_map.get(row_key(model, ident))
            if held is not None:
                expired = instance_state(held).expired_attributes
                if expired:
                    values = dict(zip(keys, row[start:end]))
                    for key in expired & values.keys():
                        set_committed_value(held, key, values[key])
                found.append(held)
                continue
            obj = manager.new_instance()
            obj.__dict__.update(zip(keys, row[start:end]))
            attach_as_loaded(session, model, obj, ident)
            found.append(obj)
        return found

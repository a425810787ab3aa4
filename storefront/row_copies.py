"""Rows kept by a worker as plain values, handed to a later request as its own objects.

The per-worker copies (``identity_reuse``, the presale plugin's look-ups) keep
column values, never ORM objects: an object belongs to one session, and one
kept across requests would carry that request's state (expired attributes,
pending changes) into the next. The values are shared by every object built
from them, so they must not change: JSON columns (dicts, lists) are kept as
their JSON text and each object built gets its own parsed copy.
"""
from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import JSON, inspect
from sqlalchemy.orm.base import manager_of_class

from .joined_rows import build_loaded, row_key
from .extensions import db


@functools.cache
def _json_columns(model) -> tuple[str, ...]:
    return tuple(attr.key for attr in inspect(model).column_attrs if isinstance(attr.columns[0].type, JSON))


def column_values(obj) -> dict[str, Any]:
    """The row's column values as the object holds them (all loaded: call it right after the
    read), JSON columns as JSON text."""
    model = type(obj)
    values = {attr.key: getattr(obj, attr.key) for attr in inspect(model).column_attrs}
    for name in _json_columns(model):
        values[name] = json.dumps(values[name])
    return values


def attached(model, values: dict[str, Any]):
    """A persistent object of this request's session holding ``values``, as if just loaded.

    The session's own object for the row, if it has one, wins: it may hold this
    request's changes."""
    session = db.session()
    held = session.identity_map.get(row_key(model, (values["id"],)))
    if held is not None:
        return held
    json_columns = _json_columns(model)
    if json_columns:  # this object's own dicts and lists
        values = {**values, **{name: json.loads(values[name]) for name in json_columns}}
    # As the ORM builds a loaded row: no constructor, whose per-attribute change
    # tracking would cost more than the rest (half the time of a campaign and its quota).
    return build_loaded(session, manager_of_class(model), values, (values["id"],))  # the values are the row's

"""Catalog fixtures: a private upload folder per test and a query counter."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from storefront.extensions import db


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    # app.config is shared by the whole session: patch, never assign.
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "STOREFRONT_UPLOAD_DIR", str(folder))
    return folder


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len([s for s in self.statements if s.lstrip().upper().startswith("SELECT")])

    @property
    def writes(self) -> list[str]:
        return [s for s in self.statements
                if s.lstrip().upper().split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")]


@pytest.fixture
def count_queries(app):
    counter = QueryCounter()
    engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


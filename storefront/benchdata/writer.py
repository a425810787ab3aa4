"""Bulk row writer for the scale-data generator.

One ORM object per row would make a million orders take hours; this writer
takes plain tuples, fills the columns the generator does not care about from
the models' own defaults once per batch, and writes each batch with one
``executemany`` (SQLite) or ``COPY`` (PostgreSQL). Ids are assigned by the
generator so that children can point at parents without a round trip; the
PostgreSQL sequences are moved past them at the end.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import JSON, Boolean, DateTime, Table, func, select
from sqlalchemy.engine import Engine

BATCH = 20_000


class TableBuffer:
    """Rows for one table, all carrying the same explicit columns."""

    def __init__(self, writer: "BulkWriter", table: Table, columns: Sequence[str]) -> None:
        self.writer = writer
        self.table = table
        self.explicit = list(columns)
        missing = [c for c in table.columns if c.name not in self.explicit]
        # Columns left to the database (server default) are not written at all.
        self.defaulted = [c for c in missing if c.server_default is None]
        self.columns = self.explicit + [c.name for c in self.defaulted]
        self.json_at = {i for i, name in enumerate(self.columns) if isinstance(table.c[name].type, JSON)}
        self.rows: list[tuple] = []
        self.written = 0

    def _defaults(self) -> tuple:
        values = []
        for column in self.defaulted:
            default = column.default
            if default is None:
                values.append(None)
            elif default.is_callable:
                values.append(default.arg(None))
            elif default.is_scalar:
                values.append(default.arg)
            else:  # pragma: no cover - SQL expression defaults are not used by the models
                values.append(None)
        return tuple(values)

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            # Parents before children: buffers flush in the order they were created.
            self.writer.flush_all()

    def flush(self) -> None:
        if not self.rows:
            return
        tail = self._defaults()
        rows = [row + tail for row in self.rows] if tail else self.rows
        if self.json_at:
            rows = [tuple(json.dumps(v) if i in self.json_at and v is not None else v for i, v in enumerate(r))
                    for r in rows]
        self.writer.write(self.table, self.columns, rows)
        self.written += len(rows)
        self.rows = []


class BulkWriter:
    def __init__(self, engine: Engine, metadata) -> None:
        self.engine = engine
        self.metadata = metadata
        self.is_pg = engine.dialect.name == "postgresql"
        self.buffers: dict[str, TableBuffer] = {}
        self.conn = engine.raw_connection()
        if self.is_pg:
            # The shop's connections read outside a transaction (database.configure_engine);
            # a bulk load is one transaction per commit(), which psycopg begins by itself.
            self.conn.driver_connection.autocommit = False
        self._converters: dict[str, list] = {}
        existing = set(self._existing_tables())
        self.tables = {name: t for name, t in metadata.tables.items() if name in existing}

    def _existing_tables(self) -> list[str]:
        from sqlalchemy import inspect

        return inspect(self.engine).get_table_names()

    def has(self, name: str) -> bool:
        return name in self.tables

    def buffer(self, name: str, columns: Sequence[str]) -> TableBuffer:
        buf = self.buffers.get(name)
        if buf is None:
            buf = self.buffers[name] = TableBuffer(self, self.tables[name], columns)
        return buf

    def next_id(self, name: str) -> int:
        with self.engine.connect() as conn:
            table = self.tables[name]
            return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1

    def write(self, table: Table, columns: list[str], rows: list[tuple]) -> None:
        cursor = self.conn.cursor()
        try:
            if self.is_pg:
                cols = ", ".join(f'"{c}"' for c in columns)
                with cursor.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                # The engine leaves pysqlite in autocommit (database.configure_engine): without an
                # explicit BEGIN every row would be its own transaction.
                if not self.conn.driver_connection.in_transaction:
                    cursor.execute("BEGIN")
                rows = self._sqlite_rows(table, columns, rows)
                cols = ", ".join(f'"{c}"' for c in columns)
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})', rows)
        finally:
            cursor.close()

    @staticmethod
    def _sqlite_rows(table: Table, columns: list[str], rows: list[tuple]) -> list[tuple]:
        # SQLAlchemy's SQLite DATETIME is text "YYYY-MM-DD HH:MM:SS.ffffff"; booleans are 0/1.
        kinds = [(i, type(table.c[c].type)) for i, c in enumerate(columns)
                 if isinstance(table.c[c].type, (DateTime, Boolean))]
        if not kinds:
            return rows
        out = []
        for row in rows:
            row = list(row)
            for i, kind in kinds:
                value = row[i]
                if value is None:
                    continue
                if kind is DateTime or issubclass(kind, DateTime):
                    row[i] = value.strftime("%Y-%m-%d %H:%M:%S.%f")
                else:
                    row[i] = 1 if value else 0
            out.append(tuple(row))
        return out

    def flush_all(self) -> None:
        for buf in self.buffers.values():
            buf.flush()

    def commit(self) -> None:
        self.flush_all()
        self.conn.commit()

    def finish(self) -> dict[str, int]:
        self.commit()
        if self.is_pg:
            cursor = self.conn.cursor()
            for name in self.buffers:
                if "id" in self.tables[name].c:
                    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                   f"COALESCE((SELECT MAX(id) FROM \"{name}\"), 1))")
            cursor.execute("ANALYZE")
            cursor.close()
            self.conn.commit()
        else:
            cursor = self.conn.cursor()
            cursor.execute("ANALYZE")
            cursor.close()
            self.conn.commit()
        self.conn.close()
        return {name: buf.written for name, buf in self.buffers.items()}

"""Every statement a page or a background sweep sends can be answered from an index
(issue 9: indexes for every filter and deadline), except on the tables that hold the shop's
set-up, which stay small whatever the shop sells.

On PostgreSQL: with sequential scans switched off its planner still scans a table when no
index can serve the statement, so a "Seq Scan" in the plan is a missing index whatever the
table's size today. SQLite has no such switch; with its statistics forgotten it plans every
table as a large one, and the second check looks there for what SQLite alone does: a growing
table read whole inside a materialised join or as a join's inner loop.
"""
from __future__ import annotations

import re

import pytest
from storefront.extensions import db
from tests.conftest import is_postgres
from tests.perf.conftest import Sent, count_queries

from .pages import walk

# Tables a shop sets up by hand; read whole on purpose, they stay small.
SET_UP_TABLES = {
    "settings": "shop settings, a few dozen keys",
    "plugin_states": "one row per installed plugin",
    "categories": "the category menu, listed whole on every catalog page",
    "store_pickup_locations": "the shop's own stores",
    "promo_popups_popups": "the popups a seller made, listed whole in the admin",
}
WRITES_AND_READS = ("SELECT", "UPDATE", "DELETE", "WITH")


def _sweeps() -> list[tuple[str, Sent]]:
    """Statements of one pass of each periodic task (deadline sweeps, notification delivery)."""
    from storefront.jobs.queue import run_delivery, run_sweeps

    sent = []
    for task in (run_sweeps, run_delivery):
        with count_queries() as seen:
            task()
            db.session.commit()
        sent += [(f"task {task.__name__}", s) for s in seen.sent]
    return sent


def _statements(app, world) -> dict[str, tuple[str, Sent]]:
    """Each distinct statement of the page walk and of one pass of the sweeps, with where it
    was first sent."""
    statements: dict[str, tuple[str, Sent]] = {}
    for visit in walk(app, world):
        for sent in visit.statements:
            statements.setdefault(sent.sql, (f"{visit.label} GET {visit.url}", sent))
    for where, sent in _sweeps():
        statements.setdefault(sent.sql, (where, sent))
    return statements


@pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL's planner (CI's PostgreSQL pass runs it)")
def test_no_statement_scans_a_table_that_grows(app, crowded_world):
    statements = _statements(app, crowded_world)
    problems, explained = [], 0
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for sql, (where, sent) in statements.items():
            if sent.executemany or not sql.upper().startswith(WRITES_AND_READS):
                continue
            params = sent.parameters
            plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql, params))
            explained += 1
            for table in sorted(set(re.findall(r"Seq Scan on (\w+)", plan)) - set(SET_UP_TABLES)):
                problems.append(f"{where}: no index serves {table} in {sql[:300]}")
    assert explained > 150, f"only {explained} statements explained: is the walk broken?"
    assert not problems, "\n".join(problems)



# SQLite's plan rows name a table read whole as "SCAN <table or alias>" ("SCAN ... USING
# [COVERING] INDEX" walks an index in order); "(join-1)", "anon_1" and the like are its own
# intermediate results.
_SQLITE_FULL_SCAN = re.compile(r"^SCAN (\w+)$")
_LOOPS = ("SCAN ", "SEARCH ")


def _table_of(name: str) -> str:
    return re.sub(r"_\d+$", "", name)  # SQLAlchemy's aliases: products_1


def _sqlite_whole_reads(rows, tables: set[str]) -> set[str]:
    """Growing tables a SQLite plan reads whole where PostgreSQL's planner would not: inside
    a materialised join or subquery, or as the inner loop of a join (read once per outer
    row). A whole read as the outermost loop is what the PostgreSQL check above judges:
    SQLite also plans that for an ORDER BY ... LIMIT walk of the rowid."""
    details = {node: detail for node, _parent, _unused, detail in rows}
    found, outer_seen = set(), set()
    for node, parent, _unused, detail in rows:
        match = _SQLITE_FULL_SCAN.match(detail)
        first_loop = detail.startswith(_LOOPS) and parent not in outer_seen
        if detail.startswith(_LOOPS):
            outer_seen.add(parent)
        if match is None or _table_of(match.group(1)) not in tables:
            continue
        nested = parent != 0 and not details.get(parent, "").startswith(("SCALAR SUBQUERY", "LIST SUBQUERY"))
        if nested or not first_loop:
            found.add(_table_of(match.group(1)))
    return found


@pytest.mark.skipif(is_postgres(), reason="the PostgreSQL pass checks its planner's plans above")
def test_sqlite_reads_no_growing_table_whole_inside_a_join(app, crowded_world):
    """SQLite computes some shapes differently from PostgreSQL: a LEFT JOIN of a nested
    join (``LEFT OUTER JOIN (a JOIN b)``, what chained ``joinedload(innerjoin=True)`` under
    an outer join writes) is materialised whole, every row of ``a`` and ``b``, before the
    join. The cart query did that on every cart, checkout and flash request.

    The statistics bench-data gathers (``ANALYZE``) are forgotten for the check: with
    none, SQLite's planner takes every table for a large one, as a shop's grow."""
    statements = _statements(app, crowded_world)
    growing = set(db.metadata.tables) - set(SET_UP_TABLES)
    problems, explained = [], 0
    raw = db.engine.raw_connection()  # a connection of its own: it forgets the statistics
    try:
        cursor = raw.cursor()
        if cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            cursor.execute("DELETE FROM sqlite_stat1")
            cursor.execute("ANALYZE sqlite_schema")  # the planner reloads them: none
        for sql, (where, sent) in statements.items():
            if sent.executemany or not sql.upper().startswith(WRITES_AND_READS):
                continue
            cursor.execute("EXPLAIN QUERY PLAN " + sql, sent.parameters)
            rows = [tuple(row) for row in cursor.fetchall()]
            explained += 1
            for table in sorted(_sqlite_whole_reads(rows, growing)):
                problems.append(f"{where}: {table} read whole in {sql[:400]}\n    plan: {rows}")
    finally:
        raw.rollback()
        raw.invalidate()  # not back to the pool with its statistics forgotten
    assert explained > 150, f"only {explained} statements explained: is the walk broken?"
    assert not problems, "\n".join(problems)


def test_the_sqlite_plan_check_finds_a_materialised_join_and_an_inner_scan():
    tables = {"carts", "cart_lines", "skus", "products", "orders"}
    cart_before = [(3, 0, 0, "MATERIALIZE (join-1)"), (10, 3, 0, "SCAN products_1"),
                   (12, 3, 0, "SEARCH skus_1 USING INDEX ix_skus_product_id (product_id=?)"),
                   (56, 0, 0, "SEARCH carts USING INDEX sqlite_autoindex_carts_2 (user_id=?)"),
                   (63, 0, 0, "SCAN (join-1) LEFT-JOIN"), (104, 0, 0, "USE TEMP B-TREE FOR ORDER BY")]
    assert _sqlite_whole_reads(cart_before, tables) == {"products"}
    cart_after = [(8, 0, 0, "SEARCH carts USING INDEX sqlite_autoindex_carts_2 (user_id=?)"),
                  (13, 0, 0, "SEARCH cart_lines_1 USING INDEX ix_cart_lines_cart_id (cart_id=?) LEFT-JOIN"),
                  (20, 0, 0, "SEARCH skus_1 USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN")]
    assert _sqlite_whole_reads(cart_after, tables) == set()
    inner = [(3, 0, 0, "SEARCH carts USING INDEX x (user_id=?)"), (9, 0, 0, "SCAN cart_lines")]
    assert _sqlite_whole_reads(inner, tables) == {"cart_lines"}
    keyset_page = [(9, 0, 0, "SCAN orders"), (12, 0, 0, "SEARCH users_1 USING INTEGER PRIMARY KEY (rowid=?)")]
    assert _sqlite_whole_reads(keyset_page, tables) == set()  # the PostgreSQL check's to judge
    counts = [(1, 0, 0, "SCAN CONSTANT ROW"), (4, 0, 0, "SCALAR SUBQUERY 1"),
              (7, 4, 0, "CO-ROUTINE anon_2"), (15, 7, 0, "SEARCH orders USING COVERING INDEX ix (status=?)"),
              (54, 4, 0, "SCAN anon_2")]
    assert _sqlite_whole_reads(counts, tables) == set()

"""Every statement a page or a background sweep sends can be answered from an index
(issue 9: indexes for every filter and deadline), except on the tables that hold the shop's
set-up, which stay small whatever the shop sells.

PostgreSQL only: with sequential scans switched off its planner still scans a table when no
index can serve the statement, so a "Seq Scan" in the plan is a missing index whatever the
table's size today. SQLite has no such switch and its planner scans small tables freely, so
a plan there says nothing about the same table at a million rows.
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


@pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL's planner (CI's PostgreSQL pass runs it)")
def test_no_statement_scans_a_table_that_grows(app, crowded_world):
    statements: dict[str, tuple[str, Sent]] = {}
    for visit in walk(app, crowded_world):
        for sent in visit.statements:
            statements.setdefault(sent.sql, (f"{visit.label} GET {visit.url}", sent))
    for where, sent in _sweeps():
        statements.setdefault(sent.sql, (where, sent))
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

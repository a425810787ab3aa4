"""``bench.harness.empty_postgres_database``: the scratch databases of the bench and the suite."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.harness import empty_postgres_database
from tests.conftest import TEST_DB_URL, is_postgres, postgres_admin_url

pytestmark = pytest.mark.skipif(not is_postgres(), reason="needs STOREFRONT_TEST_DATABASE_URL (PostgreSQL)")


def _urls(suffix: str) -> tuple[str, str, str]:
    base = make_url(TEST_DB_URL)
    name = f"{base.database}_{suffix}"
    return postgres_admin_url(), name, base.set(drivername="postgresql", database=name) \
        .render_as_string(hide_password=False)


def test_a_missing_database_is_created_and_a_used_one_emptied():
    admin, name, url = _urls("emptied")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    empty_postgres_database(admin, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('calm')")
        conn.execute("CREATE TABLE leftovers (id serial PRIMARY KEY, m mood)")
        conn.execute("INSERT INTO leftovers (m) VALUES ('calm')")
    holder = psycopg.connect(url)  # a connection left open in a transaction, holding a lock
    holder.execute("SELECT * FROM leftovers")

    empty_postgres_database(admin, name)

    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        types = conn.execute("SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                             "WHERE n.nspname = 'public'").fetchone()[0]
        conn.execute("CREATE TABLE fresh (id int)")  # the schema is usable again
    assert tables == 0 and types == 0
    with pytest.raises(psycopg.OperationalError):
        holder.execute("SELECT 1")  # its other connections were ended
    holder.close()

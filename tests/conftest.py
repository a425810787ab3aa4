"""Shared fixtures: a real database (SQLite file, or PostgreSQL when
``STOREFRONT_TEST_DATABASE_URL`` is set), apps, clients and login helpers.

The schema is created once per session; every test starts from empty tables
(rows are deleted after each test) so tests may commit for real, which the
concurrency tests need.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager

import pytest
import werkzeug.security
from sqlalchemy import text

from storefront import create_app
from flask import has_app_context
from flask.testing import FlaskClient

from storefront.extensions import db, limiter

from .factories import login  # noqa: F401  (re-exported for tests)

# Production hashes passwords with scrypt at N=2**15: ~0.1 s of CPU per hash or
# check, by design. The suite creates and signs in thousands of users, and that
# work factor was a large share of its CPU time. Same algorithm and code paths
# (the factor is read back from each stored hash, so checks stay real), at a
# factor tests can afford. Servers started as subprocesses keep the real one.
werkzeug.security.generate_password_hash.__defaults__ = ("scrypt:1024:8:1", 16)

TEST_DB_URL = os.environ.get("STOREFRONT_TEST_DATABASE_URL")


def _database_url(tmp_path_factory) -> str:
    if TEST_DB_URL:
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        return _worker_database(TEST_DB_URL, worker) if worker else TEST_DB_URL
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


def _worker_database(url: str, worker: str) -> str:
    """Each pytest-xdist worker gets its own PostgreSQL database (``<name>_<worker>``):
    the session fixture drops and recreates the schema, which workers sharing
    one database would do under each other's feet."""
    from sqlalchemy.engine import make_url

    from bench.harness import ensure_postgres_database

    base = make_url(url)
    name = f"{base.database}_{worker}"
    ensure_postgres_database(postgres_admin_url(), name)
    return base.set(database=name).render_as_string(hide_password=False)


def postgres_admin_url() -> str:
    """The ``postgres`` database on the test database's server, as a libpq URL."""
    from sqlalchemy.engine import make_url

    return make_url(TEST_DB_URL).set(drivername="postgresql", database="postgres") \
        .render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("instance"))


def make_test_app(database_url: str, instance_dir: str, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "STOREFRONT_HUEY_IMMEDIATE": True,
        # The immediate queue would deliver each message inside the request that queued it;
        # tests look at the outbox as the worker finds it (tests/notify/test_prompt.py turns it on).
        "STOREFRONT_DELIVERY_PROMPT": False,
        "STOREFRONT_LOAD_ENTRY_POINTS": False,
        # Tests create orders on past days and look at the chart at once.
        "STOREFRONT_DASHBOARD_CACHE_SECONDS": 0,
        # The page cache is per app and the apps here live for the whole session:
        # tests would see each other's pages. tests/catalog/test_page_cache.py
        # switches it on for its own tests; the bench runs it as production does.
        "STOREFRONT_PAGE_CACHE_SECONDS": 0,
        "SERVER_NAME": None,
        # Few idle connections per app (the suite builds many apps), room for
        # the race tests' bursts: PostgreSQL allows 100 clients by default,
        # shared by two xdist workers (40 each; more threads queue for one).
        # Tests commit thousands of times and never need durability: no WAL
        # flush wait per commit (a session setting, the server is untouched).
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 3, "max_overflow": 37, "pool_timeout": 60,
                                      "connect_args": {"options": "-c synchronous_commit=off"}}
        if not database_url.startswith("sqlite") else {},
    }
    config.update(overrides)
    return create_app(config, instance_path=instance_dir)


@pytest.fixture(scope="session")
def _app(database_url, instance_dir):
    app = make_test_app(database_url, instance_dir)
    with app.app_context():
        if database_url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        else:
            db.drop_all()
        db.create_all()
    return app


def _wipe(app) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]  # children first
        if db.engine.dialect.name == "postgresql":
            # Only the tables the test wrote to (a test touches a few of ~70), emptied with
            # DELETE and their sequences set back to 1 (as TRUNCATE ... RESTART IDENTITY would):
            # TRUNCATE makes new files for every table it empties, 0.37 s a test on an idle
            # server, far more while the other worker writes.
            probe = ", ".join(f'EXISTS (SELECT 1 FROM "{t}")' for t in tables)
            used = [t for t, has_rows in zip(tables, db.session.execute(text(f"SELECT {probe}")).one()) if has_rows]
            statements = [f'DELETE FROM "{t}"' for t in used]
            restarts = [f"setval('\"{s}\"', 1, false)" for t in used for s in _sequences_of(t)]
            if restarts:
                statements.append("SELECT " + ", ".join(restarts))
            if statements:
                db.session.execute(text("; ".join(statements)))
        else:
            for table in tables:
                db.session.execute(text(f'DELETE FROM "{table}"'))
        db.session.commit()
        db.session.remove()


_SEQUENCES: dict[str, list[str]] = {}


def _sequences_of(table: str) -> list[str]:
    """The sequences owned by ``table``'s columns (serial and identity). Read for every table
    at once, and again when a table appears that was not there then (a test made it)."""
    if table not in _SEQUENCES:
        _SEQUENCES.clear()
        for table_name, sequence in db.session.execute(text(
                "SELECT t.relname, s.relname FROM pg_class t "
                "LEFT JOIN pg_depend d ON d.refobjid = t.oid AND d.classid = 'pg_class'::regclass "
                "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
                "LEFT JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
                "WHERE t.relkind IN ('r', 'p') AND t.relnamespace = 'public'::regnamespace")):
            _SEQUENCES.setdefault(table_name, [])
            if sequence is not None:
                _SEQUENCES[table_name].append(sequence)
    return _SEQUENCES.get(table, [])


@contextmanager
def rate_limits_on():
    """Rate limits on for the block. Flask-Limiter keeps one ``enabled`` flag for every app (the
    storefront shares one Limiter), set by the app created last: a session fixture building an
    app without limits after the one a test needs would switch them off for it too."""
    before = limiter.enabled
    limiter.enabled = True
    try:
        yield
    finally:
        limiter.enabled = before


def make_app_keeping_limits(*args, **kwargs):
    """``make_test_app`` that leaves the shared limiter's ``enabled`` flag as it was: a
    session fixture building an app with limits on must not switch them on for every test
    after it (its own tests use :func:`rate_limits_on`)."""
    before = limiter.enabled
    try:
        return make_test_app(*args, **kwargs)
    finally:
        limiter.enabled = before


@contextmanager
def pushed_app(flask_app):
    """``flask_app`` with an app context pushed for the test body."""
    ctx = flask_app.app_context()
    ctx.push()
    try:
        yield flask_app
    finally:
        db.session.remove()
        ctx.pop()


@pytest.fixture
def app(_app):
    """The shop app with a clean database; CSRF and rate limits off."""
    try:
        with pushed_app(_app):
            yield _app
    finally:
        _wipe(_app)


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context.

    The ``app`` fixture keeps an app context pushed for the whole test, and
    Flask reuses a pushed context for requests of the same app: ``g`` (where
    Flask-Login caches the signed-in user) and the database session would
    leak from one request, or one client, to the next. Production never
    shares them, so neither do the tests. The test's own transaction is
    committed first so the request sees its rows, and the test reads fresh
    data afterwards (a SQLite read transaction would keep an old snapshot).
    """

    def open(self, *args, **kwargs):
        if has_app_context():  # a worker thread of a race test has none
            db.session.commit()
        with self.application.app_context():
            try:
                return super().open(*args, **kwargs)
            finally:
                db.session.remove()


def new_client(app) -> IsolatedClient:
    return IsolatedClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def client(app):
    return new_client(app)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # The limiter's in-memory counters outlive a test; without a reset one
    # test's attempts would count against the next one's.
    if getattr(limiter, "initialized", False):
        limiter.reset()
    yield


@pytest.fixture(scope="session")
def _secure_app(_app, database_url, instance_dir):
    """A second app on the same database with CSRF and rate limits on."""
    return make_test_app(database_url, instance_dir, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True)


@pytest.fixture
def secure_app(_secure_app, app):
    return _secure_app


@pytest.fixture
def secure_client(secure_app):
    return new_client(secure_app)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def is_postgres() -> bool:
    return bool(TEST_DB_URL and TEST_DB_URL.startswith("postgres"))


def scratch_postgres_url(suffix: str) -> str:
    """The URL of an empty PostgreSQL database next to the suite's (``<name>_<suffix>``), for
    a test that builds its own schema; left in place afterwards and emptied at its next use
    (:func:`bench.harness.empty_postgres_database`: no ``DROP DATABASE`` and its checkpoint)."""
    from sqlalchemy.engine import make_url

    from bench.harness import empty_postgres_database

    base = make_url(TEST_DB_URL)
    name = f"{base.database}_{suffix}"
    empty_postgres_database(postgres_admin_url(), name)
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def chromium_browser():
    """One Playwright and one headless Debian chromium per test process.

    Playwright's sync API allows one running instance per thread, so every
    browser test of a process (the popup tests and the journeys, which xdist
    may put in one worker) shares this one.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=os.environ.get("STOREFRONT_CHROMIUM", "/usr/bin/chromium"), headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield instance
        finally:
            instance.close()


# Tests that take tens of seconds (real servers, wrk, races of a hundred
# threads, fuzzing, browser journeys). xdist hands tests out in collection
# order; one of these collected last keeps its worker busy while the other
# has nothing left to do, so they are run first. Order only, never selection.
_LONG_FIRST = (
    "tests/bench/test_smoke.py",
    "tests/security/test_api_fuzz.py",
    "tests/plugins/coupons/test_races.py",
    "tests/security/test_crash.py",
    "tests/security/test_audit.py",
    "tests/security/test_stateful.py",
    "tests/e2e/test_journey_seller.py",
    "tests/e2e/test_journey_refund.py",
)


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        return _LONG_FIRST.index(path) if path in _LONG_FIRST else len(_LONG_FIRST)

    items.sort(key=rank)  # stable: collection order within each rank

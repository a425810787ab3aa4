"""The Alembic migrations build exactly the schema the models describe.

Each test migrates a scratch database of its own (a temporary SQLite file,
or a ``<name>_migr`` PostgreSQL database next to the test database when
``STOREFRONT_TEST_DATABASE_URL`` is set), so the session's shared schema is
never touched.
"""
from __future__ import annotations

import os
import textwrap
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storefront.database import migration_locations, upgrade_database
from storefront.extensions import db
from storefront.plugins.types import Plugin

from .conftest import TEST_DB_URL, make_test_app, scratch_postgres_url

FIXTURE_MODULE = "tests._migration_fixture_plugin"


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database for one test."""
    if not (TEST_DB_URL and TEST_DB_URL.startswith("postgres")):
        return "sqlite:///" + str(tmp_path / "migrations.db")
    return scratch_postgres_url(f"migr_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")


@pytest.fixture
def scratch_app(scratch_url, tmp_path):
    app = make_test_app(scratch_url, str(tmp_path / "instance"))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _alembic_config(app):
    return app.extensions["migrate"].migrate.get_config()


def _expected_tables(app) -> set[str]:
    """Tables this app's migrations must build: the core's and its installed
    plugins'. Models of plugins that other apps in this test process loaded
    share the global metadata and are left out."""
    from storefront.plugins.host import get_host

    packages = ["storefront"]
    for manifest in get_host(app).plugins.values():
        if manifest.models is not None:
            packages.append(manifest.models.__name__.rsplit(".", 1)[0])
    tables: set[str] = set()
    for mapper in db.Model.registry.mappers:
        module = mapper.class_.__module__
        if any(module == p or module.startswith(p + ".") for p in packages):
            tables.update(t.name for t in mapper.tables)
    return tables


def _schema_diff():
    from flask import current_app

    expected = _expected_tables(current_app)

    def include_object(obj, name, type_, reflected, compare_to):
        return type_ != "table" or name in expected or reflected

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object})
        return compare_metadata(context, db.metadata)


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_upgrade_heads_builds_exactly_the_models(scratch_app):
    assert _tables() == set()
    upgrade_database("heads")
    assert _expected_tables(scratch_app) <= _tables()
    diff = _schema_diff()
    assert diff == [], (
        "models and migrations disagree; regenerate with "
        f"`bash migrations/regenerate_initial.sh` or add a revision: {diff}")


def test_downgrade_to_base_removes_every_table(scratch_app):
    upgrade_database("heads")
    command.downgrade(_alembic_config(scratch_app), "base")
    assert _tables() <= {"alembic_version"}
    upgrade_database("heads")  # and it comes back
    assert _expected_tables(scratch_app) <= _tables()


def test_check_constraints_are_enforced_after_migrating(scratch_app):
    from sqlalchemy.exc import IntegrityError

    from .factories import make_product

    upgrade_database("heads")
    product = make_product(stock=1)
    product.skus[0].stock = -1
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_core_branch_is_labelled_and_single_headed(scratch_app):
    script = ScriptDirectory.from_config(_alembic_config(scratch_app))
    core_heads = script.revision_map.get_revisions("core@head")
    assert len(core_heads) == 1
    assert script.get_revision("core") is not None


# -- plugin branches ----------------------------------------------------------

def _write_plugin_branch(folder) -> None:
    """A plugin's own Alembic branch: one revision depending on the core."""
    folder.mkdir()
    (folder / "0001_migrfixture.py").write_text(textwrap.dedent('''
        """migrfixture schema"""
        from alembic import op
        import sqlalchemy as sa

        revision = "0001_migrfixture"
        down_revision = None
        branch_labels = ("migrfixture",)
        depends_on = "core"


        def upgrade():
            op.create_table(
                "migrfixture_things",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                          sa.ForeignKey("orders.id", name="fk_migrfixture_things_order_id_orders")),
            )


        def downgrade():
            op.drop_table("migrfixture_things")
    '''))


@pytest.fixture
def plugin_app(scratch_url, tmp_path, monkeypatch):
    """An app with an installed plugin that brings its own migrations branch."""
    import sys
    import types

    folder = tmp_path / "migrfixture_versions"
    _write_plugin_branch(folder)
    module = types.ModuleType(FIXTURE_MODULE)
    module.plugin = Plugin(name="migrfixture", title="Migration fixture", version="1",
                           migrations=str(folder))
    monkeypatch.setitem(sys.modules, FIXTURE_MODULE, module)
    app = make_test_app(scratch_url, str(tmp_path / "instance"), STOREFRONT_PLUGINS=[FIXTURE_MODULE])
    with app.app_context():
        yield app, folder
        db.session.remove()
        db.engine.dispose()


def test_plugin_branch_is_a_version_location(plugin_app):
    app, folder = plugin_app
    locations = migration_locations(app)
    assert locations[0].endswith(os.path.join("migrations", "versions"))
    assert str(folder) in locations
    config = _alembic_config(app)
    assert config.get_version_locations_list() == locations


def test_upgrade_heads_runs_every_branch_and_downgrades(plugin_app):
    app, _folder = plugin_app
    config = _alembic_config(app)
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 2  # core + plugin: "head" alone is ambiguous
    upgrade_database()
    assert "migrfixture_things" in _tables()
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    # Every branch stands at its head. The plugin's revision depends on 0001_core,
    # so while that is the core's head too, the plugin's head alone stands for both.
    heads = set(script.get_heads())
    assert "0001_migrfixture" in heads
    assert current == (heads - {"0001_core"})
    # The plugin's table exists although no model describes it here (core
    # drift, if any, is test_upgrade_heads_builds_exactly_the_models' business).
    removed = [d[1].name for d in _schema_diff() if d[0] == "remove_table"]
    assert removed == ["migrfixture_things"]

    command.downgrade(config, "migrfixture@base")
    assert "migrfixture_things" not in _tables()
    assert "orders" in _tables()
    command.downgrade(config, "base")
    assert _tables() <= {"alembic_version"}


def test_autogenerate_for_a_plugin_writes_only_its_tables(plugin_app, tmp_path):
    """``flask db migrate -x plugin=<name>`` scopes the revision to that plugin."""
    app, folder = plugin_app
    upgrade_database()
    config = _alembic_config(app)
    config.cmd_opts.x = ["plugin=migrfixture"]
    rev_id = "r" + uuid.uuid4().hex[:8]
    command.revision(config, message="drop things", autogenerate=True, rev_id=rev_id)
    written = [p for p in folder.iterdir() if p.name.startswith(rev_id)]
    assert len(written) == 1, list(folder.iterdir())
    source = written[0].read_text()
    assert "drop_table('migrfixture_things')" in source
    assert "down_revision = '0001_migrfixture'" in source
    assert "orders" not in source.split("def downgrade")[0].replace("migrfixture_things", "")


def test_migrated_column_types_per_dialect(scratch_app):
    """JSON is JSONB on PostgreSQL, enums are plain strings (no native types)."""
    upgrade_database("heads")
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("orders")}
    assert columns["status"]["type"].python_type is str
    assert getattr(columns["status"]["type"], "length", None) == 24
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_type WHERE typtype = 'e'")).scalar() == 0
            kind = conn.execute(text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'plugin_states' AND column_name = 'settings'")).scalar()
            big = conn.execute(text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'orders' AND column_name = 'id'")).scalar()
        assert kind == "jsonb"
        assert big == "bigint"
    else:
        settings_type = {c["name"]: c for c in inspect(db.engine).get_columns("plugin_states")}["settings"]["type"]
        assert "JSON" in str(settings_type).upper()


def test_bare_flask_db_upgrade_builds_every_branch(scratch_app):
    """``flask db upgrade`` with no revision builds the core and every plugin branch."""
    from storefront.plugins.host import get_host

    result = scratch_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    tables = set(inspect(db.engine).get_table_names())
    assert {"orders", "order_tracking_parcels", "coupons_coupons", "promo_popups_popups"} <= tables
    heads = {row[0] for row in db.session.execute(db.text("SELECT version_num FROM alembic_version"))}
    # Plugin branches depending on the core leave only their own heads stamped.
    # (each branch's own head: a plugin may have more than its first revision)
    script = ScriptDirectory.from_config(_alembic_config(scratch_app))
    plugin_heads = {script.revision_map.get_revisions(f"{name}@head")[0].revision
                    for name, m in get_host(scratch_app).plugins.items() if m.migrations}
    assert plugin_heads <= heads

"""The plugin's Alembic branch builds exactly its models (on a scratch SQLite file) and downgrades."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect

from storefront.extensions import db
from tests.conftest import make_test_app


def test_branch_matches_models_and_downgrades(tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "instance"),
                        STOREFRONT_PLUGINS=["plugins.order_tracking"])
    with app.app_context():
        try:
            upgrade(revision="heads")
            mine = {t for t in db.metadata.tables if t.startswith("order_tracking_")}
            assert mine <= set(inspect(db.engine).get_table_names())

            def include(obj, name, type_, reflected, compare_to):
                table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
                return table is None or table in mine

            with db.engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include})
                assert compare_metadata(ctx, db.metadata) == []
            command.downgrade(app.extensions["migrate"].migrate.get_config(), "order_tracking@base")
            assert not mine & set(inspect(db.engine).get_table_names())
        finally:
            db.session.remove()
            db.engine.dispose()

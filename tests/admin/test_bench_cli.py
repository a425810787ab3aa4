"""``flask storefront bench-data`` shows a progress bar and ends with a summary."""
from __future__ import annotations

from sqlalchemy import func, select

from storefront.benchdata import GeneratorConfig, generate
from storefront.extensions import db
from storefront.orders.models import Order
from tests.notify.helpers import make_order


def test_progress_callback_counts_every_order(app):
    db.session.commit()
    seen = []
    counts = generate(GeneratorConfig(orders=1200, buyers=40, products=12, seed=5), db.engine, db.metadata,
                      log=lambda _line: None, progress=seen.append)
    assert seen == [1000, 200] and sum(seen) == counts["orders"] == 1200


def test_cli_prints_progress_and_summary(app):
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["storefront", "bench-data", "--orders", "300", "--buyers", "40",
                                                "--products", "12"])
    assert result.exit_code == 0, result.output
    assert "orders" in result.output.splitlines()[0]  # the bar's label (a plain line when not a terminal)
    assert "summary: 300 orders in" in result.output and "orders/s" in result.output
    assert "  orders: 300" in result.output and "  payments: 300" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Order)) == 300


def test_cli_refuses_a_shop_with_orders(app):
    make_order()
    result = app.test_cli_runner().invoke(args=["storefront", "bench-data", "--orders", "10"])
    assert result.exit_code != 0 and "--yes" in result.output
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_aftersales_only_without_the_plugin_tables_is_a_clear_error(app, monkeypatch):
    import importlib

    generator = importlib.import_module("storefront.benchdata.generate")  # the package re-exports a function of that name
    monkeypatch.setattr(generator, "available", lambda _writer: False)
    result = app.test_cli_runner().invoke(args=["storefront", "bench-data", "--aftersales-only"])
    assert result.exit_code == 1 and "run the migrations first" in result.output
    assert "Traceback" not in result.output and result.exception.__class__.__name__ == "SystemExit"

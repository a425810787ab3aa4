"""The benchmark harness runs end to end (``bench/run.py --smoke``): no timing is asserted.

It starts a real gunicorn and drives it with wrk, so it is skipped when wrk
is not installed (CI: ``apt-get install -y wrk``; docs/performance.md).
One smoke per test pass: SQLite normally; PostgreSQL when the suite runs on
PostgreSQL (``STOREFRONT_TEST_DATABASE_URL`` set, as in CI's second pass). The
harness uses its own database on 127.0.0.1:5432, ``storefront_bench_smoke_<xdist
worker>`` (two smokes at once must not empty each other's), never the test database.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import harness

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")


def _smoke(db: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "results.json"
    pg_db = f"{harness.PG_BENCH_DB}_smoke_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--db", db, "--workdir", str(tmp_path / "work"),
         "--pg-db", pg_db, "--json", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    [report] = json.loads(out.read_text(encoding="utf-8"))
    return report


def _assert_sound(report: dict) -> None:
    failed = [c for c in report["checks"] if not c["ok"] and "target" not in c["name"]]
    assert not failed, failed
    names = {c["name"] for c in report["checks"]}
    # The correctness checks themselves ran: a harness that silently skipped them must fail here.
    assert "no 5xx" in names and "reference checkout: stock conserved" in names
    # The flash SKU sells from a presale quota when plugins/presale is installed ("presale quota conserved").
    assert any(n.endswith(("stock conserved", "quota conserved")) and n.startswith("flash") for n in names)
    assert any(n.endswith("coupon uses <= limit") for n in names)
    scenarios = {r["scenario"] for r in report["results"]}
    assert {"ref_hello", "ref_product", "ref_checkout", "product_page", "cart_page", "checkout_page",
            "layout_floor", "tracking_page", "staff_orders", "flash"} <= scenarios
    assert all(not k.rsplit("_", 1)[-1].startswith("5")
               for r in report["results"] for k in (r.get("statuses") or {}))


ON_POSTGRES = (os.environ.get("STOREFRONT_TEST_DATABASE_URL") or "").startswith("postgres")


@pytest.mark.skipif(ON_POSTGRES, reason="the PostgreSQL pass runs the PostgreSQL smoke instead")
def test_smoke_sqlite(tmp_path):
    _assert_sound(_smoke("sqlite", tmp_path))


@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL pass (STOREFRONT_TEST_DATABASE_URL)")
def test_smoke_postgres(tmp_path):
    if not harness.postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    _assert_sound(_smoke("postgres", tmp_path))


def _deposit_flash(db: str, tmp_path: Path) -> None:
    """The Double-11 shape on threaded workers -- a deposit flash, then the balance rush as its window
    opens: quota, deposits and every order's money still add up."""
    report = _smoke(db, tmp_path, "--scenarios", "ref_checkout,flash", "--presale-mode", "deposit",
                    "--threads", "2")
    failed = [c for c in report["checks"] if not c["ok"] and "target" not in c["name"]]
    assert not failed, failed
    names = {c["name"] for c in report["checks"]}
    assert any(n.endswith("quota conserved") for n in names)
    [deposits] = [c for c in report["checks"] if c["name"].endswith("took the deposit only")]
    assert not deposits["detail"].startswith("0 deposits"), deposits  # the run sold something
    [flash] = [r for r in report["results"] if r["scenario"] == "flash"]
    assert flash["counts"].get("paid", 0) > 0
    [adds_up] = [c for c in report["checks"] if c["name"].endswith("money adds up")]
    assert any(c["name"].endswith("every accepted balance payment is a paid order") for c in report["checks"])
    [balance] = [r for r in report["results"] if r["scenario"] == "balance"]
    # Every deposit order's buyer paid the balance: the smoke's wrk run outlasts its few buyers.
    [opened] = report["balances"]
    assert opened["orders"] > 0 and balance["counts"].get("paid", 0) == opened["orders"], (balance, adds_up)


@pytest.mark.skipif(ON_POSTGRES, reason="the PostgreSQL pass runs the PostgreSQL smoke instead")
def test_deposit_flash_sqlite(tmp_path):
    _deposit_flash("sqlite", tmp_path)


@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL pass (STOREFRONT_TEST_DATABASE_URL)")
def test_deposit_flash_postgres(tmp_path):
    if not harness.postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    _deposit_flash("postgres", tmp_path)


def _buy_now_flash(db: str, tmp_path: Path) -> None:
    """The flash sale through buy-now (立即购买, one request per order, coupon code included): the same
    correctness checks hold, and the buyers took the buy-now path, including the retry without the
    coupon once its uses ran out (the smoke sells 20 with a 10-use coupon). The Huey worker runs
    beside the server, as on a sale day, and sends every paid order's message."""
    report = _smoke(db, tmp_path, "--scenarios", "ref_checkout,flash", "--flash-flow", "buy-now", "--worker")
    failed = [c for c in report["checks"] if not c["ok"] and "target" not in c["name"]]
    assert not failed, failed
    names = {c["name"] for c in report["checks"]}
    assert "no 5xx" in names and "reference checkout: stock conserved" in names
    for check in ("stock conserved|quota conserved", "no oversell", "one order per accepted checkout",
                  "every accepted payment is a paid order", "coupon uses <= limit"):
        assert any(n.startswith("flash") and n.endswith(tuple(check.split("|"))) for n in names), check
    [flash] = [r for r in report["results"] if r["scenario"] == "flash"]
    assert flash["flow"] == "buy-now" and report["flash_flow"] == "buy-now"
    # Only buy-now ("checkout") and pay requests: no cart or coupon step was sent.
    assert {k.rsplit("_", 1)[0] for k in flash["statuses"]} <= {"checkout", "pay"}, flash["statuses"]
    counts = flash["counts"]
    assert counts.get("placed", 0) > 0 and counts.get("paid", 0) > 0, counts
    assert counts.get("checkout_rejected_coupon", 0) > 0, counts
    delivery = flash["delivery"]
    assert delivery["queued"] == counts["paid"] and delivery["sent"] == delivery["queued"], (delivery, counts)
    assert any(n.endswith("every paid message sent by the worker") for n in names)


@pytest.mark.skipif(ON_POSTGRES, reason="the PostgreSQL pass runs the PostgreSQL smoke instead")
def test_buy_now_flash_sqlite(tmp_path):
    _buy_now_flash("sqlite", tmp_path)


@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL pass (STOREFRONT_TEST_DATABASE_URL)")
def test_buy_now_flash_postgres(tmp_path):
    if not harness.postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    _buy_now_flash("postgres", tmp_path)

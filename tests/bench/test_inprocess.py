"""``bench/inprocess.py`` runs end to end on a small shop (no timing is asserted).

It is how the optimisation rounds of docs/performance.md were measured; this keeps
its page scenarios, the layout floor among them, answering as they must.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _inprocess(tmp_path, scenarios: str, requests: int, *extra: str) -> dict:
    """``bench/inprocess.py`` on a 100-order shop; its JSON results."""
    out = tmp_path / "inprocess.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "inprocess.py"), "--orders", "100", "--requests", str(requests),
         "--scenarios", scenarios, "--json", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text(encoding="utf-8"))


def test_page_scenarios_and_the_layout_floor(tmp_path):
    results = _inprocess(tmp_path, "ref_product,cart_page,layout_floor,order_detail,tracking_page,buyer_orders,"
                                   "staff_orders", 4)
    floor, cart = results["layout_floor"], results["cart_page"]
    assert floor["n"] == cart["n"] == 4
    # The pages after the sale answered 200 (the scenario checks each answer) from the database.
    for page in ("order_detail", "tracking_page", "buyer_orders", "staff_orders"):
        assert results[page]["n"] == 4 and results[page]["queries_median"] >= 1, page
    # The floor signs the buyer in and reads the plugin states, each from the worker's copy
    # within its reuse window, and nothing the cart page adds: no cart, no pricing.
    assert 0 <= floor["queries_max"] < cart["queries_median"]
    assert floor["cpu_ms_median"] > 0 and floor["share_of_ref_b"].endswith("%")


def test_after_sale_batches_give_back_and_ship_everything(tmp_path):
    """The unpaid sweep closes every unpaid flash order and returns the quota and coupon
    uses; the tracking upload ships every paid one with its parcel; the delivery pass sends
    every "paid" message (the scenarios check this themselves and exit non-zero otherwise)."""
    results = _inprocess(tmp_path, "unpaid_sweep,bulk_ship,outbox_delivery", 6)
    sweep, ship, outbox = results["unpaid_sweep"], results["bulk_ship"], results["outbox_delivery"]
    assert sweep["closed"] == sweep["orders"] == 6 and sweep["after"]["open_orders"] == 0
    assert sweep["before"]["quota_sold"] == 6 and sweep["after"]["quota_sold"] == 0
    assert sweep["before"]["coupon_uses"] == 6 and sweep["after"]["coupon_uses"] == 0
    assert ship["shipped"] == ship["orders"] == 6 and ship["check"].startswith("every order shipped")
    assert sweep["commits_per_order"] > 0 and ship["statements_per_order"] > 0
    # Every paid order's "paid" message went out once, in one delivery pass.
    assert outbox["sent"] >= outbox["paid_orders"] == 6 and outbox["passes"] == 1
    assert outbox["check"] == "every message sent once"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (apt-get install -y valgrind)")
def test_instructions_are_counted_per_request_under_callgrind(tmp_path):
    """``--instructions`` runs the same measurement under valgrind's callgrind and reports the
    instructions of the measured requests only (CI installs valgrind, as it does wrk)."""
    results = _inprocess(tmp_path, "ref_product,layout_floor,flash", 3, "--instructions")
    ref, floor, flash = results["ref_product"], results["layout_floor"], results["flash"]
    # Millions of instructions a request: a Flask request is a few million, and the set-up
    # (schema, orders, the apps themselves: billions) is not in the count.
    assert 0.5 < ref["minstr_per_request"] < floor["minstr_per_request"] < 100
    assert floor["share_of_ref_b_by_instructions"].endswith("%")
    assert flash["place+pay"]["n"] == 3 and 0.5 < flash["ref_checkout"]["minstr_per_request"] \
        < flash["minstr_per_paid_order"] < 400
    # Each step of the buyers' flow is counted apart (callgrind's client requests, compiled
    # with the machine's C compiler); every buyer takes each step once and pays, so the
    # steps add up to a paid order.
    # Without a C compiler, callgrind_control switches the counting and only the whole is given.
    steps = [flash[name].get("minstr_per_request") for name in ("cart", "coupon", "checkout", "pay")]
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        assert steps == [None] * 4
        return
    assert all(0.5 < step < 200 for step in steps)
    assert sum(steps) == pytest.approx(flash["minstr_per_paid_order"], rel=0.01)

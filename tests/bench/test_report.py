"""The benchmark's table: errors are the answers a scenario should not give, and the flash
line states its p99 against the reference checkout's with the target."""
from __future__ import annotations

from types import SimpleNamespace

from bench.report import aggregate, markdown, print_table


def _run(scenario, statuses, p99=10.0, **extra):
    return {"scenario": scenario, "connections": 16, "statuses": statuses, "rps": 100.0, "p50_ms": 5.0,
            "p95_ms": 8.0, "p99_ms": p99, **extra}


def _flash_run(checkout_p99):
    steps = {step: {"p50_ms": 100.0, "p95_ms": 200.0, "p99_ms": checkout_p99 if step == "checkout" else 300.0}
             for step in ("order", "checkout", "pay", "cart")}
    return _run("flash", {"200": 900, "409": 50}, orders_per_s=50.0, steps=steps, counts={"paid": 500})


def _report(results):
    return {"db": "sqlite", "orders": 10000, "summary": aggregate(results), "results": results, "checks": []}


def test_expected_answers_are_not_errors_and_others_are():
    summary = aggregate([
        _run("layout_floor", {"404": 5000}), _run("layout_floor", {"404": 4000, "500": 2}),
        _run("ref_checkout", {"201": 300}, duration_s=10.0), _run("cart_page", {"200": 900, "302": 3}),
    ])
    assert summary["layout_floor"]["errors"] == 2 and summary["layout_floor"]["server_errors"] == 2
    assert summary["ref_checkout"]["errors"] == 0
    assert summary["cart_page"]["errors"] == 3  # a redirect to the sign-in page: the cookie broke


def test_the_flash_line_gives_the_p99_ratio_and_its_target(capsys):
    report = _report([_run("ref_checkout", {"201": 3000}, p99=150.0, duration_s=10.0), _flash_run(450.0)])
    print_table(report, SimpleNamespace(runs=1, duration=8.0, workers=2))
    out = capsys.readouterr().out
    assert "checkout p99 = 3.00x reference checkout p99 150 ms (target <= 3x)" in out
    assert "errors" in out.splitlines()[2] and "non-2xx" not in out
    assert "= 3.00× the reference checkout's 150 ms (target ≤ 3×)" in markdown(report)


def test_without_the_reference_no_ratio_is_claimed(capsys):
    report = _report([_flash_run(450.0)])
    print_table(report, SimpleNamespace(runs=1, duration=8.0, workers=2))
    assert "target <= 3x" not in capsys.readouterr().out

"""Medians over runs, the results table, ratios to the reference endpoints, profile summaries."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from statistics import median

#: scenario -> (reference scenario, target share of its throughput, from issue 9)
RATIO_TO = {
    "product_page": ("ref_product", 0.50), "cart_page": ("ref_product", 0.40),
    "checkout_page": ("ref_product", 0.40), "layout_floor": ("ref_product", None),
    "home": ("ref_product", None), "catalog_list": ("ref_product", None),
    "search": ("ref_product", None), "catalog_signed_in": ("ref_product", None), "buyer_orders": ("ref_product", None), "order_detail": ("ref_product", None),
    "tracking_page": ("ref_product", None), "staff_orders": ("ref_product", None),
    "staff_dashboard": ("ref_product", None), "aftersales_queue": ("ref_product", None),
    "aftersales_metrics": ("ref_product", None),
    "ref_product": ("ref_hello", None),
}


#: A page scenario's answer when it is not 200 (the layout floor asks for a page that does not
#: exist); any other status is counted as an error.
EXPECTED_STATUS = {"ref_checkout": "201", "layout_floor": "404"}

#: Flash checkout p99 against the reference checkout's, at most (issue 9).
FLASH_P99_TARGET = 3.0

#: Buyer scenarios (one wrk thread walks each buyer's requests) and the steps they report.
#: The flash sale's buy-now flow (``--flash-flow buy-now``) has no cart step: its "checkout"
#: is the buy-now request, "order" runs from it to the paid answer, as the cart flow's.
BUYER_STEPS = {"flash": ("order", "checkout", "pay", "cart"), "balance": ("order", "balance", "pay")}


def label(name: str, row: dict) -> str:
    """The scenario as the tables name it: the flash sale's flow when it is not the cart's."""
    flow = row.get("flow")
    return f"{name} ({flow})" if flow and flow != "cart" else name


def aggregate(results: list[dict]) -> dict[str, dict]:
    by_name: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_name[r["scenario"]].append(r)
    summary = {}
    for name, runs in by_name.items():
        statuses: Counter = Counter()
        for r in runs:
            statuses.update(r.get("statuses") or {})
        expected = EXPECTED_STATUS.get(name)
        row = {"runs": len(runs), "connections": runs[0]["connections"], "statuses": dict(statuses),
               "errors": int(sum(n for k, n in statuses.items()
                                 if not k.rsplit("_", 1)[-1].startswith("2") and k.rsplit("_", 1)[-1] != expected)),
               "server_errors": int(sum(n for k, n in statuses.items() if k.rsplit("_", 1)[-1].startswith("5")))}
        for key in ("rps", "p50_ms", "p95_ms", "p99_ms"):
            row[key] = median(r[key] for r in runs)
        if name in BUYER_STEPS:
            runs = [r for r in runs if not r.get("crashed")] or runs
            row["orders_per_s"] = median(r["orders_per_s"] for r in runs)
            for step in BUYER_STEPS[name]:
                for pct in ("p50", "p95", "p99"):
                    values = [r["steps"][step][f"{pct}_ms"] for r in runs if step in r.get("steps", {})]
                    row[f"{step}_{pct}_ms"] = median(values) if values else 0
            counts: Counter = Counter()
            for r in runs:
                counts.update(r.get("counts") or {})
            row["counts"] = dict(counts)
            # A paying buyer's requests are not errors: sold-out answers (409/422) are the expected outcome.
            row["errors"] = row["server_errors"]
            if runs[0].get("flow"):
                row["flow"] = runs[0]["flow"]
        if name == "ref_checkout":
            row["orders_per_s"] = median(r["statuses"].get("201", 0) / r["duration_s"] for r in runs)
        summary[name] = row
    return summary


def ratios(summary: dict) -> dict[str, tuple[float, float | None]]:
    out = {}
    for name, (ref, target) in RATIO_TO.items():
        if name in summary and ref in summary and summary[ref]["rps"]:
            out[name] = (summary[name]["rps"] / summary[ref]["rps"], target)
    reference = summary.get("ref_checkout", {}).get("orders_per_s")
    for name, target in (("flash", 0.35), ("balance", None)):  # paid orders/s against (c)'s
        if name in summary and reference:
            out[name] = (summary[name]["orders_per_s"] / reference, target)
    return out


def flash_p99_ratio(summary: dict) -> float | None:
    """The flash checkout's p99 over the reference checkout's (target: at most 3)."""
    reference = summary.get("ref_checkout", {}).get("p99_ms")
    if "flash" not in summary or not reference:
        return None
    return summary["flash"]["checkout_p99_ms"] / reference


def print_table(report: dict, args) -> None:
    summary = report["summary"]
    rel = ratios(summary)
    print(f"\n== {report['db']}: {report['orders']} orders, {args.runs} run(s) of {args.duration:g}s, "
          f"gunicorn: {report.get('server') or f'{args.workers} sync workers'} (medians) ==")
    print(f"{'scenario':<18}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>9}"
          f"{'5xx':>6}  ratio")
    for name, row in summary.items():
        ratio = ""
        if name in rel:
            value, target = rel[name]
            ref = RATIO_TO.get(name, ("ref_checkout",))[0]
            ratio = f"{value:.0%} of {ref}" + (f" (target {target:.0%})" if target else "")
        print(f"{label(name, row):<18}{row['connections']:>6}{row['rps']:>9.1f}{row['p50_ms']:>9.1f}"
              f"{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['errors']:>9}{row['server_errors']:>6}  {ratio}")
    if "flash" in summary:
        f = summary["flash"]
        print(f"flash sale ({f.get('flow', 'cart')} flow): {f['orders_per_s']:.1f} paid orders/s"
              + (f" = {rel['flash'][0]:.0%} of reference checkout {summary['ref_checkout']['orders_per_s']:.1f}/s "
                 "(target 35%)" if "flash" in rel else ""))
        p99 = flash_p99_ratio(summary)
        print(f"  place+pay latency p50/p95/p99 {f['order_p50_ms']:.0f}/{f['order_p95_ms']:.0f}/"
              f"{f['order_p99_ms']:.0f} ms; checkout p99 {f['checkout_p99_ms']:.0f} ms, pay p99 "
              f"{f['pay_p99_ms']:.0f} ms" + (f"; checkout p99 = {p99:.2f}x reference checkout p99 "
                                           f"{summary['ref_checkout']['p99_ms']:.0f} ms (target <= {FLASH_P99_TARGET:g}x)"
                                           if p99 is not None else ""))
        print(f"  outcomes (all runs): {dict(sorted(f['counts'].items()))}")
        for run in (r for r in report["results"] if r["scenario"] == "flash" and r.get("delivery")):
            d = run["delivery"]
            print(f"  run {run['run']}: paid messages sent by the worker {d['sent']} of {d['queued']}, waited "
                  f"p50 {d['p50_s']:.1f} s, p95 {d['p95_s']:.1f} s, max {d['max_s']:.1f} s")
    if "balance" in summary:
        b = summary["balance"]
        print(f"balance rush: {b['orders_per_s']:.1f} balances paid/s"
              + (f" = {rel['balance'][0]:.0%} of reference checkout" if "balance" in rel else ""))
        print(f"  start+pay latency p50/p95/p99 {b['order_p50_ms']:.0f}/{b['order_p95_ms']:.0f}/"
              f"{b['order_p99_ms']:.0f} ms; start p99 {b['balance_p99_ms']:.0f} ms, pay p99 {b['pay_p99_ms']:.0f} ms")
        print(f"  outcomes (all runs): {dict(sorted(b['counts'].items()))}")
    print("checks:")
    for check in report["checks"]:
        print(f"  [{'ok' if check['ok'] else 'FAIL'}] {check['name']}: {check['detail']}")
    for name, text in report.get("profiles", {}).items():
        print(f"profile of {name}:\n{text}")


IDLE = ("SyncWorker.wait", "Arbiter.", "select (selectors.py")
PROJECT = ("(storefront/", "(plugins/", "/storefront/", "/plugins/")


def _function(frame: str) -> str:
    """``name (path:line)`` -> ``name (path)``: samples of one function on different lines add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarize_profile(path: Path, top: int = 25) -> str:
    """Top functions of a py-spy raw (collapsed) profile, over the workers' busy samples only.

    Own time is by leaf function; inclusive time is for project functions
    (storefront/, plugins/), each counted once per sample.
    """
    if not path.exists():
        return "(no profile: py-spy missing or not permitted)"
    own: Counter = Counter()
    inclusive: Counter = Counter()
    busy = idle = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE) or any("Arbiter.run" in f for f in frames[:3]) \
                and not any("handle_request" in f for f in frames):
            idle += n
            continue
        busy += n
        own[_function(frames[-1])] += n
        for function in {_function(f) for f in frames if any(m in f for m in PROJECT)}:
            inclusive[function] += n
    if not busy:
        return "(empty profile)"
    lines = [f"  {busy} busy samples ({idle} idle left out); own time:"]
    lines += [f"    {n / busy:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("  inclusive, project functions:")
    lines += [f"    {n / busy:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The summary as a Markdown table (for docs/performance.md)."""
    summary, rel = report["summary"], ratios(report["summary"])
    lines = ["| scenario | conns | req/s | p50 ms | p95 ms | p99 ms | errors | 5xx | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, row in summary.items():
        ratio = ""
        if name in rel:
            value, target = rel[name]
            ratio = f"{value:.0%} of {RATIO_TO.get(name, ('ref_checkout',))[0]}" + \
                (f" (target ≥ {target:.0%})" if target else "")
        lines.append(f"| {label(name, row)} | {row['connections']} | {row['rps']:.1f} | {row['p50_ms']:.0f} | "
                     f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} | {row['errors']} | {row['server_errors']} | "
                     f"{ratio} |")
    if "flash" in summary:
        f = summary["flash"]
        p99 = flash_p99_ratio(summary)
        lines.append("")
        lines.append(f"Flash sale ({f.get('flow', 'cart')} flow): **{f['orders_per_s']:.1f} paid orders/s**"
                     + (f" = {rel['flash'][0]:.0%} of the reference checkout's "
                        f"{summary['ref_checkout']['orders_per_s']:.1f}/s (target ≥ 35 %)" if "flash" in rel else "")
                     + f"; place+pay p50/p95/p99 {f['order_p50_ms']:.0f}/{f['order_p95_ms']:.0f}/"
                       f"{f['order_p99_ms']:.0f} ms; checkout request p99 {f['checkout_p99_ms']:.0f} ms"
                     + (f" = {p99:.2f}× the reference checkout's "
                        f"{summary['ref_checkout']['p99_ms']:.0f} ms (target ≤ {FLASH_P99_TARGET:g}×)"
                        if p99 is not None else "") + ".")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m bench.report results.json
    import json
    import sys

    for rep in json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")):
        print(f"### {rep['db']}, {rep['orders']} orders\n")
        print(markdown(rep))
        print()

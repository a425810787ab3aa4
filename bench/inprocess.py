"""In-process figures: CPU time and SQL statements per request, no server, no wrk.

``python bench/inprocess.py [--db sqlite|postgres] [--requests 200] [--profile product_page]``

A fresh database with ``bench-data`` and the bench fixtures (as ``bench/run.py``
builds it), then the shop and the reference app (b)/(c) are driven through
Flask's test client in this one process: for each scenario, ``--requests``
requests, the median of each request's CPU time (``time.process_time``, so
time spent waiting on another process -- the database server, other helpers'
work on a shared machine -- is not counted) and the number of SQL statements
it sent. Use it to compare before/after a change on a busy machine, where
wrk's throughput is mostly noise; ``--profile NAME`` prints a pyinstrument
call tree of one scenario (``requirements-bench.txt``).

The flash scenario walks fresh buyers through cart line -> coupon -> checkout
-> pay with bearer tokens and reports each step and "place+pay" (checkout +
pay) against the reference checkout (c). With ``--flash-flow buy-now`` each
buyer instead places the item in one ``POST /api/v1/checkout/buy-now`` (coupon
code included; refused over the coupon once its uses ran out, then bought again
without it, timed apart as "buy-now-refused") and pays: "place+pay" is then
buy-now + pay.

``catalog_list``, ``search`` and ``home`` are the anonymous catalog pages: mostly page-cache
hits, unless run with ``STOREFRONT_PAGE_CACHE_SECONDS=0``, which measures what a render costs.
``catalog_signed_in`` is the same listings and searches for the cart page's signed-in buyers,
who never get a cached page.

``order_detail``, ``tracking_page``, ``buyer_orders`` and ``staff_orders`` are the pages a sale's
buyers and staff open afterwards: a buyer's order and its tracking page, the buyer's order list,
and the staff order list (50 orders a page).

``unpaid_sweep``, ``bulk_ship`` and ``outbox_delivery`` (not run by default) are what a shop
does in bulk after a flash: the deadline sweep closes the unpaid orders and gives back what
they held, staff ship the paid ones from one tracking-number upload, and the worker delivers
the buyers' "paid" messages. Per order (per message): CPU, statements, commits and SQLite's
write-lock hold (``bench/inprocess_batches.py``).

``layout_floor`` is the cart page's signed-in buyers asking for a page that
does not exist: the session, the buyer, the plugin states and the layout of
the 404 page, nothing else. No signed-in page can cost less, so its share of
(b) bounds what any signed-in page (cart, checkout) can reach.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import fixtures, harness, instructions  # noqa: E402
from bench.report import EXPECTED_STATUS  # noqa: E402

#: Flash buyers served before the flash is measured (see _flash).
FLASH_WARM_UP = 5

PAGES = ["ref_product", "product_page", "cart_page", "checkout_page", "layout_floor", "catalog_list", "search", "home",
         "catalog_signed_in", "order_detail", "tracking_page", "buyer_orders", "staff_orders"]


class QueryCounter:
    """Counts statements sent on an engine (``before_cursor_execute``) and commits, and on
    SQLite the wall time spent holding the write lock (``BEGIN IMMEDIATE`` to its commit or
    rollback): every other writer of the flash waits that long."""

    def __init__(self, engines) -> None:
        from sqlalchemy import event

        self.count = 0
        self.commits = 0
        self.lock_ms = 0.0
        self._locked_at: float | None = None
        self.statements: list[str] | None = None  # set to a list to record them
        self._event = event
        self._engines = list(engines)
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._on_execute)
            event.listen(engine, "commit", self._on_commit)
            event.listen(engine, "rollback", self._on_end)

    def _on_commit(self, conn) -> None:
        self.commits += 1
        self._on_end(conn)

    def _on_execute(self, _conn, _cursor, statement, *_args) -> None:
        self.count += 1
        if statement == "BEGIN IMMEDIATE":
            self._locked_at = time.perf_counter()
        if self.statements is not None:
            self.statements.append(" ".join(statement.split())[:160])

    def _on_end(self, _conn) -> None:
        if self._locked_at is not None:
            self.lock_ms += (time.perf_counter() - self._locked_at) * 1000
            self._locked_at = None

    def close(self) -> None:
        for engine in self._engines:
            self._event.remove(engine, "before_cursor_execute", self._on_execute)
            self._event.remove(engine, "commit", self._on_commit)
            self._event.remove(engine, "rollback", self._on_end)


def _cookie_headers(cookie: str) -> dict:
    return {"Cookie": cookie, "User-Agent": fixtures.USER_AGENT} if cookie != "-" else {
        "User-Agent": fixtures.USER_AGENT}


def _measure(call, n: int, counter: QueryCounter) -> dict:
    cpu, queries = [], []
    with instructions.counted() as count:
        for i in range(n):
            counter.count = 0
            started = time.process_time()
            call(i)
            cpu.append((time.process_time() - started) * 1000)
            queries.append(counter.count)
    result = {"n": n, "cpu_ms_median": round(statistics.median(cpu), 2),
              "cpu_ms_p90": round(sorted(cpu)[int(0.9 * (n - 1))], 2),
              "queries_median": statistics.median(queries), "queries_max": max(queries)}
    if count.total is not None:
        result["minstr_per_request"] = instructions.per_request(count, n)
    return result


def _page_call(client, rows, expect: int = 200):
    def call(i):
        method, path, cookie, _body = rows[i % len(rows)]
        response = client.open(path, method=method, headers=_cookie_headers(cookie))
        if response.status_code != expect:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        return response
    return call


def _flash(shop, reference, out: Path, n: int, counter: QueryCounter, show: bool = False,
           flow: str = "cart", step_profile: tuple | None = None) -> dict:
    # The first FLASH_WARM_UP buyers are served before the measurement, as a worker serving a
    # sale has: the notification templates compiled, the locale data of money and dates loaded
    # (a fiftieth of a sixty-buyer count went to those first-time costs).
    warm = FLASH_WARM_UP
    flash = fixtures.flash_round(shop, out, stock=n + warm + 10, buyers=n + warm, coupon_limit=n // 2 + warm,
                                 tag=secrets.token_hex(3), presale="presale" in shop.extensions["storefront"].host.plugins)
    buyers = [line.split("\t") for line in Path(flash["buyers_file"]).read_text().splitlines()]
    client = shop.test_client()
    names = ("buy-now", "buy-now-refused", "pay", "place+pay") if flow == "buy-now" else \
        ("cart", "coupon", "checkout", "pay", "place+pay")
    steps = {name: ([], [], []) for name in names}  # CPU ms, statements, write lock ms

    recording = False

    def timed(name, fn):
        """One request of step ``name`` (or ``name(response)``): its response, CPU ms and statements."""
        counter.count, counter.lock_ms = 0, 0.0
        counter.statements = [] if show and recording else None
        started = time.process_time()
        if recording and step_profile is not None and name == step_profile[0]:
            response = step_profile[1].runcall(fn)  # --profile flash:STEP --flat: this step alone
        else:
            response = fn()
        cpu = (time.process_time() - started) * 1000
        name = name(response) if callable(name) else name
        if recording:
            count.end(name)  # under callgrind, this request's instructions are counted apart
            if counter.statements is not None and not steps[name][0]:
                print(f"--- flash {name}: {len(counter.statements)} statements", *counter.statements, sep="\n  ",
                      file=sys.stderr)
            steps[name][0].append(cpu)
            steps[name][1].append(counter.count)
            steps[name][2].append(counter.lock_ms)
        counter.statements = None
        if response.status_code >= 500:
            raise SystemExit(f"flash {name}: HTTP {response.status_code}")
        return response, cpu, counter.count

    def cart_checkout(headers, address, uid):
        """As flash.lua: cart line, coupon, checkout (the checkout's answer is returned)."""
        timed("cart", lambda: client.post("/api/v1/cart/lines", json={"sku_id": flash["sku_id"], "quantity": 1},
                                          headers={**headers, "Prefer": "return=minimal"}))  # as flash.lua
        if flash["coupon"]:
            timed("coupon", lambda: client.post("/api/v1/coupons/apply", json={"code": flash["coupon"]["code"]},
                                                headers=headers))
        return timed("checkout", lambda: client.post("/api/v1/checkout", headers=headers, json={
            "idempotency_key": f"inproc-{uid}", "delivery_code": "courier", "address_id": int(address)}))

    def refused_over_coupon(response) -> bool:
        return response.status_code not in (200, 201) and b"coupon" in response.data

    def buy_now(headers, address, uid):
        """As flash_buy_now.lua: the coupon code with the buy-now; refused over it, once more without."""
        body = {"sku_id": flash["sku_id"], "quantity": 1, "idempotency_key": f"inproc-{uid}",
                "delivery_code": "courier", "address_id": int(address)}
        if flash["coupon"]:
            coded = {**body, "extra": {"coupons_code": flash["coupon"]["code"]}}
            answer = timed(lambda r: "buy-now-refused" if refused_over_coupon(r) else "buy-now",
                           lambda: client.post("/api/v1/checkout/buy-now", json=coded, headers=headers))
            if not refused_over_coupon(answer[0]):
                return answer
        return timed("buy-now", lambda: client.post("/api/v1/checkout/buy-now", json=body, headers=headers))

    place = buy_now if flow == "buy-now" else cart_checkout

    def buy(token, address, uid) -> None:
        headers = {"Authorization": f"Bearer {token}", "User-Agent": fixtures.USER_AGENT}
        response, cpu1, q1 = place(headers, address, uid)
        ref = ((response.get_json() or {}).get("payment") or {}).get("reference") \
            if response.status_code in (200, 201) else None
        if ref is None:
            return
        response, cpu2, q2 = timed("pay", lambda: client.post(f"/api/v1/payments/{ref}/pay-test", json={},
                                                              headers=headers))
        if response.status_code == 200 and recording:
            steps["place+pay"][0].append(cpu1 + cpu2)
            steps["place+pay"][1].append(q1 + q2)

    count = instructions.Count()
    for buyer in buyers[:warm]:
        buy(*buyer)
    recording = True
    with instructions.counted() as count:  # every step of every buyer, refused ones included
        for buyer in buyers[warm:]:
            buy(*buyer)
    result = {name: {"n": len(cpu), "cpu_ms_median": round(statistics.median(cpu), 2) if cpu else None,
                     "queries_median": statistics.median(q) if q else None}
              for name, (cpu, q, _held) in steps.items()}
    for name, (_cpu, _q, held) in steps.items():
        if any(held):  # SQLite only: PostgreSQL has no database-wide write lock
            result[name]["write_lock_ms_median"] = round(statistics.median(held), 2)
    if count.total is not None:
        result["minstr_per_paid_order"] = instructions.per_request(count, len(steps["place+pay"][0]))
        for name in steps:
            if count.per_step(name) is not None:
                result[name]["minstr_per_request"] = count.per_step(name)
    if flow != "cart":
        result["flow"] = flow
    # The API's floor: a signed-in buyer's cheapest call (who am I), what every step above pays
    # before its own work (the bearer token, the plugin states, the JSON answer).
    measured = buyers[warm:]

    def who_am_i(i):
        token = measured[i % len(measured)][0]
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}",
                                                     "User-Agent": fixtures.USER_AGENT})
        if response.status_code != 200:
            raise SystemExit(f"/api/v1/me: HTTP {response.status_code}")

    result["api_floor"] = _measure(who_am_i, n, counter)
    ref_client = reference.test_client()
    for i in range(warm):  # its first requests, as the shop's, before the measurement
        ref_client.post("/checkout", json={"product_id": 200 - i})
    result["ref_checkout"] = _measure(lambda i: ref_client.post("/checkout", json={"product_id": 1 + i % 200}),
                                      n, counter)
    return result


def _print_profile(profiler, show_all: bool) -> None:
    print(profiler.output_text(unicode=True, color=False, show_all=show_all), file=sys.stderr)


def _print_flat(work=None, profiler=None) -> None:
    """Own time per function: shows cost spread thin over many callers, which a call tree hides.
    Profiles ``work()``, or prints what ``profiler`` (a cProfile.Profile) has gathered."""
    import cProfile
    import pstats

    if profiler is None:
        profiler = cProfile.Profile()
        profiler.runcall(work)
    # FLAT_SORT=cumulative FLAT_FILTER=plugins/ shows what the shop's own functions cost, callees included.
    stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats(os.environ.get("FLAT_SORT", "tottime"))
    stats.print_stats(*filter(None, [os.environ.get("FLAT_FILTER")]), 45)
    if os.environ.get("FLAT_DUMP"):  # a file for pstats / snakeviz
        stats.dump_stats(os.environ["FLAT_DUMP"])
    if os.environ.get("FLAT_CALLERS"):
        stats.print_callers(os.environ["FLAT_CALLERS"])
    if os.environ.get("FLAT_CALLEES"):
        stats.print_callees(os.environ["FLAT_CALLEES"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--pg-db", default="storefront_bench_inprocess", help="PostgreSQL database (dropped, re-created)")
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--scenarios", default=",".join(PAGES + ["flash"]))
    p.add_argument("--profile", default="", help="scenario to profile with pyinstrument (after measuring); with --flat, "
                   "flash:STEP (cart, coupon, checkout, pay, buy-now) profiles one flash step alone")
    p.add_argument("--profile-all", action="store_true",
                   help="with --profile: every frame, libraries' included (long)")
    p.add_argument("--flat", action="store_true",
                   help="with --profile: a flat cProfile listing by own time instead of the call tree")
    p.add_argument("--show-queries", action="store_true", help="print the statements of one request per page")
    p.add_argument("--distinct", type=int, default=0,
                   help="use only the first N requests of each page scenario (N small: page-cache hits)")
    p.add_argument("--flash-flow", choices=["cart", "buy-now"], default="cart",
                   help="the flash scenario's flow: cart line, coupon, checkout, pay; or buy-now, pay")
    p.add_argument("--json", default="")
    p.add_argument("--instructions", action="store_true",
                   help="also count each scenario's instructions with valgrind's callgrind (bench/instructions.py); "
                        "repeatable within half a per cent, for before/after on a busy machine")
    args = p.parse_args(argv)
    if args.instructions:
        return instructions.run_under_valgrind(__file__, [a for a in (argv if argv is not None else sys.argv[1:])
                                                          if a != "--instructions"])
    workdir = Path(tempfile.mkdtemp(prefix="sf-inproc-"))
    try:
        return _run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the SQLite database and request files


def _run(args, workdir: Path) -> int:
    wanted = [s for s in args.scenarios.split(",") if s]
    url = harness.fresh_database(args.db, workdir, pg_db=args.pg_db)
    env = harness.bench_env(url, workdir, secrets.token_hex(32))
    os.environ.update({k: env[k] for k in ("STOREFRONT_DATABASE_URL", "STOREFRONT_SECRET_KEY")})
    from flask_migrate import upgrade

    from bench.reference_app import create_reference_app, create_tables, ref_db
    from storefront import create_app
    from storefront.benchdata import GeneratorConfig, generate
    from storefront.extensions import db

    shop = create_app(instance_path=env["BENCH_INSTANCE"])
    with shop.app_context():
        upgrade(revision="heads")
        generate(GeneratorConfig(orders=args.orders), db.engine, db.metadata, log=lambda line: None)
        db.session.remove()
    create_tables(url)
    out = workdir / "requests"
    fixtures.prepare(shop, out)
    reference = create_reference_app(url)
    with shop.app_context():
        engines = [db.engine]
    with reference.app_context():
        engines.append(ref_db.engine)
    counter = QueryCounter(engines)
    results: dict = {"db": args.db, "orders": args.orders, "requests": args.requests}
    clients = {"ref_product": reference.test_client()}
    for name in [w for w in wanted if w in PAGES]:
        rows = [line.split("\t") for line in (out / f"{name}.tsv").read_text().splitlines()]
        if name == "ref_product":
            rows = [(m, path[len("/_ref"):], c, b) for m, path, c, b in rows]
        if args.distinct:
            rows = rows[:args.distinct]
        client = clients.get(name) or shop.test_client(use_cookies=False)
        # The answer the wrk runs check for (the layout floor's is a 404).
        call = _page_call(client, rows, int(EXPECTED_STATUS.get(name, "200")))
        # Warm-up: template compilation, first imports. Counting instructions (a total, not a
        # median) also needs each buyer's and page's first visit behind it, as a server under
        # load has: the worker's copies of the user and the cached pages are then in place.
        for i in range(len(rows) if instructions.active() else 5):
            call(i)
        results[name] = _measure(call, args.requests, counter)
        if args.show_queries:
            counter.statements = []
            size = len(call(0).get_data())
            print(f"--- {name}: {size:,} bytes, {len(counter.statements)} statements", *counter.statements, sep="\n  ",
                  file=sys.stderr)
            counter.statements = None
        if name == args.profile and args.flat:
            _print_flat(lambda: [call(i) for i in range(200)])
        elif name == args.profile:
            from pyinstrument import Profiler

            with Profiler(interval=0.0005) as profiler:
                for i in range(200):
                    call(i)
            _print_profile(profiler, args.profile_all)
    for batch in ("unpaid_sweep", "bulk_ship", "outbox_delivery"):
        if batch in wanted:
            from bench import inprocess_batches

            results[batch] = getattr(inprocess_batches, batch)(shop, out, min(args.requests, 200), counter,
                                                                show=args.show_queries)
    if "flash" in wanted:
        if args.profile.startswith("flash:") and args.flat:
            import cProfile

            step = (args.profile.split(":", 1)[1], cProfile.Profile())
            results["flash"] = _flash(shop, reference, out, min(args.requests, 100), counter,
                                      flow=args.flash_flow, step_profile=step)
            _print_flat(profiler=step[1])
        elif args.profile == "flash" and args.flat:
            _print_flat(lambda: results.update(flash=_flash(shop, reference, out, min(args.requests, 100), counter,
                                                            flow=args.flash_flow)))
        elif args.profile == "flash":
            from pyinstrument import Profiler

            with Profiler(interval=0.0005) as profiler:
                results["flash"] = _flash(shop, reference, out, min(args.requests, 100), counter,
                                          flow=args.flash_flow)
            _print_profile(profiler, args.profile_all)
        else:
            results["flash"] = _flash(shop, reference, out, min(args.requests, 100), counter,
                                      show=args.show_queries, flow=args.flash_flow)
    counter.close()
    ref = results.get("ref_product", {}).get("cpu_ms_median")
    ref_instructions = results.get("ref_product", {}).get("minstr_per_request")
    for name in PAGES:
        if name in results and ref:
            results[name]["share_of_ref_b"] = f"{ref / results[name]['cpu_ms_median']:.0%}"
        if name in results and ref_instructions and results[name].get("minstr_per_request"):
            results[name]["share_of_ref_b_by_instructions"] = \
                f"{ref_instructions / results[name]['minstr_per_request']:.1%}"
    flash = results.get("flash")
    if flash and flash["place+pay"]["cpu_ms_median"]:
        flash["share_of_ref_c"] = f"{flash['ref_checkout']['cpu_ms_median'] / flash['place+pay']['cpu_ms_median']:.0%}"
        if flash.get("minstr_per_paid_order") and flash["ref_checkout"].get("minstr_per_request"):
            flash["share_of_ref_c_by_instructions"] = \
                f"{flash['ref_checkout']['minstr_per_request'] / flash['minstr_per_paid_order']:.1%}"
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

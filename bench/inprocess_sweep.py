"""``bench/inprocess.py``'s ``unpaid_sweep`` scenario: closing a flash's unpaid orders.

After a Double-11 flash many buyers never pay; once their deadline passes, the
deadline sweep closes their orders one write transaction each, and the
plugins give back what each order held (presale quota, coupon use, pickup
place, store credit) in their ``order_event`` handlers. While it runs, the
buyers still checking out wait on the same write lock (SQLite) or row locks.

The scenario places ``n`` buy-now orders of a fresh presale SKU with a coupon
(as the flash does), leaves them unpaid, moves their deadline into the past and
runs the unpaid sweep once. It reports, per closed order: CPU and wall time, statements,
commits, and on SQLite how long the write lock was held. It then checks that
every order closed and that the quota and the coupon's uses came back exactly.
"""
from __future__ import annotations

import secrets
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, text

from bench import fixtures


class _Commits:
    """Counts COMMITs on an engine: one per transaction, write or read."""

    def __init__(self, engine) -> None:
        self.count = 0
        self._engine = engine
        event.listen(engine, "commit", self._on_commit)

    def _on_commit(self, _conn) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self._engine, "commit", self._on_commit)


def _place_unpaid(shop, flash: dict) -> int:
    """Every buyer of the round buys the flash SKU with the coupon and does not pay."""
    client = shop.test_client()
    placed = 0
    for line in Path(flash["buyers_file"]).read_text(encoding="utf-8").splitlines():
        token, address, uid = line.split("\t")
        body = {"sku_id": flash["sku_id"], "quantity": 1, "idempotency_key": f"sweep-{uid}",
                "delivery_code": "courier", "address_id": int(address)}
        if flash["coupon"]:
            body["extra"] = {"coupons_code": flash["coupon"]["code"]}
        response = client.post("/api/v1/checkout/buy-now", json=body,
                               headers={"Authorization": f"Bearer {token}", "User-Agent": fixtures.USER_AGENT})
        if response.status_code != 201:
            raise SystemExit(f"unpaid_sweep: buy-now answered {response.status_code}: {response.get_data(True)}")
        placed += 1
    return placed


def _held(flash: dict) -> dict:
    """What the round's orders hold: quota sold, coupon uses, open orders."""
    from storefront.extensions import db

    tag = flash["tag"]
    row = {"open_orders": db.session.execute(text(
        "SELECT count(*) FROM orders o JOIN order_lines l ON l.order_id = o.id "
        "WHERE l.sku_id = :sku AND o.status = 'pending_payment'"), {"sku": flash["sku_id"]}).scalar()}
    if flash["presale"]:
        row["quota_sold"] = db.session.execute(text(
            "SELECT coalesce(sum(sold), 0) FROM presale_quotas WHERE campaign_id = :c"),
            {"c": flash["presale"]["campaign_id"]}).scalar()
    if flash["coupon"]:
        row["coupon_uses"] = db.session.execute(text(
            "SELECT used FROM coupons_coupons WHERE id = :id"), {"id": flash["coupon"]["id"]}).scalar()
    db.session.commit()
    row["tag"] = tag
    return row


def unpaid_sweep(shop, out: Path, n: int, counter, show: bool = False) -> dict:
    """Place ``n`` unpaid flash orders, let their deadline pass, time the sweep that closes them."""
    from storefront.clock import utcnow
    from storefront.extensions import db
    from storefront.orders.sweeps import close_unpaid

    presale = "presale" in shop.extensions["storefront"].host.plugins
    flash = fixtures.flash_round(shop, out, stock=n + 10, buyers=n, coupon_limit=n, tag=secrets.token_hex(3),
                                 presale=presale)
    placed = _place_unpaid(shop, flash)
    with shop.app_context():
        before = _held(flash)
        db.session.execute(text(
            "UPDATE orders SET pay_deadline = :past WHERE status = 'pending_payment' AND id IN "
            "(SELECT order_id FROM order_lines WHERE sku_id = :sku)"),
            {"past": utcnow() - timedelta(minutes=1), "sku": flash["sku_id"]})
        db.session.commit()
        commits = _Commits(db.engine)
        counter.count, counter.lock_ms = 0, 0.0
        counter.statements = [] if show else None
        started, wall_started = time.process_time(), time.perf_counter()
        closed = close_unpaid(utcnow())
        cpu = (time.process_time() - started) * 1000
        wall = (time.perf_counter() - wall_started) * 1000
        commits.close()
        statements, counter.statements = counter.statements, None
        after = _held(flash)
        db.session.remove()
    if show and statements:
        import sys

        # One order's share from the middle of the sweep: the first order also reads what the
        # sweep then keeps (plugin states, settings).
        size = len(statements) // max(closed, 1)
        middle = (closed // 2) * size
        per_order = statements[middle:middle + size]
        print(f"--- unpaid_sweep: {len(statements)} statements for {closed} orders; "
              f"{size} from the middle:", *per_order, sep="\n  ", file=sys.stderr)
    per = max(closed, 1)
    result = {
        "orders": placed, "closed": closed,
        "cpu_ms_per_order": round(cpu / per, 2),
        "wall_ms_per_order": round(wall / per, 2),
        "statements_per_order": round(counter.count / per, 1),
        "commits_per_order": round(commits.count / per, 1),
        "before": {k: v for k, v in before.items() if k != "tag"},
        "after": {k: v for k, v in after.items() if k != "tag"},
    }
    if counter.lock_ms:  # SQLite only: PostgreSQL has no database-wide write lock
        result["write_lock_ms_per_order"] = round(counter.lock_ms / per, 2)
    given_back = after.get("open_orders") == 0 and after.get("quota_sold", 0) == 0 \
        and after.get("coupon_uses", 0) == 0 and closed == placed
    result["check"] = "every order closed, quota and coupon uses back" if given_back else "FAILED"
    if not given_back:
        raise SystemExit(f"unpaid_sweep: {result}")
    return result

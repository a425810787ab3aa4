"""``bench/inprocess.py``'s after-sale batch scenarios: what a shop does in bulk after a flash.

``unpaid_sweep``: after a Double-11 flash many buyers never pay. Once their
deadline passes, the deadline sweep closes their orders one write transaction
each, and the plugins give back what each order held (presale quota, coupon
use, pickup place, store credit) in their ``order_event`` handlers. While it
runs, the buyers still checking out wait on the same write lock (SQLite) or
row locks. The scenario places ``n`` buy-now orders of a fresh presale SKU
with a coupon (as the flash does), leaves them unpaid, moves their deadline
into the past and runs the unpaid sweep once. It reports, per closed order:
CPU and wall time, statements, commits, and on SQLite how long the write lock
was held. It then checks that every order closed and that the quota and the
coupon's uses came back exactly.

``bulk_ship``: the days after, staff ship the paid orders by uploading the
carriers' tracking numbers (``storefront/orders/csv_io.py``). Each order
ships in its own write transaction with the buyer's "shipped" message, and
the plugins react in ``order_event`` (order tracking opens a parcel). The
scenario pays ``n`` flash orders, imports one CSV for all of them and reports
the same figures per shipped order, then checks every order shipped with a parcel.

``outbox_delivery``: every paid order queued its buyer's "paid" message, and
the worker's delivery pass sends them (``storefront/notify/delivery.py``),
writing each outcome back to the outbox while the sale goes on. The scenario
pays ``n`` flash orders and runs delivery passes, as the worker does each
minute, until nothing is due, through a backend that only counts. It reports
the same figures per message sent, and how many passes (minutes) the backlog
took; then checks every message was sent exactly once.
"""
from __future__ import annotations

import secrets
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from bench import fixtures


def _place_unpaid(shop, flash: dict) -> list[tuple[dict, str]]:
    """Every buyer of the round buys the flash SKU with the coupon and does not pay:
    each buyer's headers and payment reference."""
    client = shop.test_client()
    placed = []
    for line in Path(flash["buyers_file"]).read_text(encoding="utf-8").splitlines():
        token, address, uid = line.split("\t")
        headers = {"Authorization": f"Bearer {token}", "User-Agent": fixtures.USER_AGENT}
        body = {"sku_id": flash["sku_id"], "quantity": 1, "idempotency_key": f"sweep-{uid}",
                "delivery_code": "courier", "address_id": int(address)}
        if flash["coupon"]:
            body["extra"] = {"coupons_code": flash["coupon"]["code"]}
        response = client.post("/api/v1/checkout/buy-now", json=body, headers=headers)
        if response.status_code != 201:
            raise SystemExit(f"buy-now answered {response.status_code}: {response.get_data(True)}")
        placed.append((headers, response.get_json()["payment"]["reference"]))
    return placed


def _pay_all(shop, flash: dict, name: str) -> int:
    """Every buyer of the round buys the flash SKU with the coupon and pays: how many paid."""
    client = shop.test_client()
    placed = _place_unpaid(shop, flash)
    for headers, reference in placed:
        response = client.post(f"/api/v1/payments/{reference}/pay-test", json={}, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{name}: pay answered {response.status_code}: {response.get_data(True)}")
    return len(placed)


def _held(flash: dict) -> dict:
    """What the round's orders hold: quota sold, coupon uses, open orders."""
    from storefront.extensions import db

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
    return row


def _per_order(name: str, work, counter, show: bool) -> dict:
    """Run ``work()`` (it returns how many orders it handled) in the caller's app context:
    CPU, wall time, statements, commits and SQLite's write-lock hold per order."""
    counter.count, counter.commits, counter.lock_ms = 0, 0, 0.0
    counter.statements = [] if show else None
    started, wall_started = time.process_time(), time.perf_counter()
    try:
        done = work()
    finally:
        cpu = (time.process_time() - started) * 1000
        wall = (time.perf_counter() - wall_started) * 1000
    statements, counter.statements = counter.statements, None
    if show and statements:
        import sys

        # One order's share from the middle of the batch: the first order also reads what
        # the batch then keeps (plugin states, settings).
        size = len(statements) // max(done, 1)
        middle = (done // 2) * size
        print(f"--- {name}: {len(statements)} statements for {done} orders; {size} from the middle:",
              *statements[middle:middle + size], sep="\n  ", file=sys.stderr)
    per = max(done, 1)
    figures = {"done": done, "cpu_ms_per_order": round(cpu / per, 2), "wall_ms_per_order": round(wall / per, 2),
               "statements_per_order": round(counter.count / per, 1),
               "commits_per_order": round(counter.commits / per, 1)}
    if counter.lock_ms:  # SQLite only: PostgreSQL has no database-wide write lock
        figures["write_lock_ms_per_order"] = round(counter.lock_ms / per, 2)
    return figures


def unpaid_sweep(shop, out: Path, n: int, counter, show: bool = False) -> dict:
    """Place ``n`` unpaid flash orders, let their deadline pass, time the sweep that closes them."""
    from storefront.clock import utcnow
    from storefront.extensions import db
    from storefront.orders.sweeps import close_unpaid

    presale = "presale" in shop.extensions["storefront"].host.plugins
    flash = fixtures.flash_round(shop, out, stock=n + 10, buyers=n, coupon_limit=n, tag=secrets.token_hex(3),
                                 presale=presale)
    placed = len(_place_unpaid(shop, flash))
    with shop.app_context():
        before = _held(flash)
        db.session.execute(text(
            "UPDATE orders SET pay_deadline = :past WHERE status = 'pending_payment' AND id IN "
            "(SELECT order_id FROM order_lines WHERE sku_id = :sku)"),
            {"past": utcnow() - timedelta(minutes=1), "sku": flash["sku_id"]})
        db.session.commit()
        figures = _per_order("unpaid_sweep", lambda: close_unpaid(utcnow()), counter, show)
        after = _held(flash)
        db.session.remove()
    closed = figures.pop("done")
    result = {"orders": placed, "closed": closed, **figures, "before": before, "after": after}
    given_back = after.get("open_orders") == 0 and after.get("quota_sold", 0) == 0 \
        and after.get("coupon_uses", 0) == 0 and closed == placed
    result["check"] = "every order closed, quota and coupon uses back" if given_back else "FAILED"
    if not given_back:
        raise SystemExit(f"unpaid_sweep: {result}")
    return result


def bulk_ship(shop, out: Path, n: int, counter, show: bool = False) -> dict:
    """Pay ``n`` flash orders, then ship them all from one tracking-number upload."""
    from sqlalchemy import select

    from storefront.accounts.models import User
    from storefront.extensions import db
    from storefront.orders.csv_io import import_tracking
    from storefront.settings import get_setting

    presale = "presale" in shop.extensions["storefront"].host.plugins
    flash = fixtures.flash_round(shop, out, stock=n + 10, buyers=n, coupon_limit=n, tag=secrets.token_hex(3),
                                 presale=presale)
    _pay_all(shop, flash, "bulk_ship")
    with shop.app_context():
        numbers = list(db.session.execute(text(
            "SELECT o.number FROM orders o WHERE o.status = 'paid' AND o.id IN "
            "(SELECT order_id FROM order_lines WHERE sku_id = :sku) ORDER BY o.id"), {"sku": flash["sku_id"]}).scalars())
        carrier = (get_setting("carriers") or ["SF Express"])[0]
        upload = "order_number,carrier,tracking_number\n" + "".join(
            f"{number},{carrier},SF{1000000000 + i}\n" for i, number in enumerate(numbers))
        owner = db.session.execute(select(User).where(User.role == "owner").order_by(User.id).limit(1)).scalar_one()
        rows: list = []

        def ship() -> int:
            rows.extend(import_tracking(upload.encode(), owner))
            return sum(1 for row in rows if row.ok)

        figures = _per_order("bulk_ship", ship, counter, show)
        problems = [(row.number, row.error) for row in rows if not row.ok]
        shipped, parcels = db.session.execute(text(
            "SELECT count(*), count(p.id) FROM orders o LEFT JOIN order_tracking_parcels p ON p.order_id = o.id "
            "WHERE o.status = 'shipped' AND o.id IN (SELECT order_id FROM order_lines WHERE sku_id = :sku)"),
            {"sku": flash["sku_id"]}).one()
        db.session.remove()
    result = {"orders": len(numbers), "shipped": figures.pop("done"), **figures}
    ok = not problems and shipped == len(numbers) == n and parcels in (0, shipped)
    result["check"] = f"every order shipped, {parcels} parcels opened" if ok else f"FAILED: {problems[:3]}"
    if not ok:
        raise SystemExit(f"bulk_ship: {result}")
    return result


def outbox_delivery(shop, out: Path, n: int, counter, show: bool = False) -> dict:
    """Pay ``n`` flash orders, then deliver their "paid" messages pass by pass until none is due."""
    from storefront.extensions import db
    from storefront.notify.delivery import deliver_pending

    presale = "presale" in shop.extensions["storefront"].host.plugins
    flash = fixtures.flash_round(shop, out, stock=n + 10, buyers=n, coupon_limit=n, tag=secrets.token_hex(3),
                                 presale=presale)
    with shop.app_context():
        db.session.execute(text("UPDATE outbox SET status = 'sent' WHERE status IN ('pending', 'sending')"))
        db.session.commit()  # only this round's messages count
        db.session.remove()
    paid = _pay_all(shop, flash, "outbox_delivery")

    class CountingBackend:
        def __init__(self):
            self.sent: list[int] = []

        def send(self, message):
            self.sent.append(message.id)

    backend = CountingBackend()
    passes = 0
    with shop.app_context():
        def deliver() -> int:
            nonlocal passes
            total = 0
            while True:
                done = deliver_pending(backend=backend)
                if not done:
                    return total
                passes += 1
                total += done

        figures = _per_order("outbox_delivery", deliver, counter, show)
        left = db.session.execute(text(
            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")).scalar()
        db.session.remove()
    sent = figures.pop("done")
    figures = {key.replace("_per_order", "_per_message"): value for key, value in figures.items()}
    result = {"paid_orders": paid, "sent": sent, "passes": passes, **figures}
    ok = sent == len(backend.sent) == len(set(backend.sent)) >= paid and left == 0
    result["check"] = "every message sent once" if ok else f"FAILED: {left} left, {len(backend.sent)} sends"
    if not ok:
        raise SystemExit(f"outbox_delivery: {result}")
    return result

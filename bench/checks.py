"""Correctness checks after the load: nothing oversold, coupon within its limit, no 5xx."""
from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text

from bench.report import EXPECTED_STATUS
from storefront.extensions import db


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def flash_checks(app, flash: dict, lua: dict) -> list[Check]:
    """Stock conserved exactly, one order per checkout, coupon uses within the limit."""
    sku, initial = flash["sku_id"], flash["stock"]
    counts = lua.get("counts", {})
    tag = flash["tag"]
    out: list[Check] = []
    with app.app_context():
        stock = db.session.execute(text("SELECT stock FROM skus WHERE id = :id"), {"id": sku}).scalar_one()
        held = db.session.execute(text(
            "SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id "
            "WHERE l.sku_id = :id AND o.status <> 'closed'"), {"id": sku}).scalar_one()
        orders = db.session.execute(text(
            "SELECT COUNT(DISTINCT l.order_id) FROM order_lines l WHERE l.sku_id = :id"), {"id": sku}).scalar_one()
        presale = flash.get("presale")
        deposit = bool(presale) and presale.get("mode") == "deposit"
        # A deposit order stays awaiting payment (its balance) once the deposit is in.
        paid = db.session.execute(text(
            "SELECT COUNT(DISTINCT o.id) FROM order_lines l JOIN orders o ON o.id = l.order_id "
            "WHERE l.sku_id = :id AND " + ("o.paid_total > 0" if deposit else "o.status = 'paid'")),
            {"id": sku}).scalar_one()
        if deposit:
            wrong = db.session.execute(text(
                "SELECT COUNT(*) FROM orders o JOIN presale_orders p ON p.order_id = o.id "
                "JOIN order_lines l ON l.order_id = o.id "
                "WHERE l.sku_id = :id AND o.paid_total > 0 "
                "AND (o.paid_total <> p.deposit_total OR p.deposit_total <> :deposit * l.quantity "
                "OR o.status <> 'pending_payment')"),
                {"id": sku, "deposit": presale["deposit"]}).scalar_one()
            out.append(Check(f"flash {tag}: each payment took the deposit only", wrong == 0,
                             f"{paid} deposits in, {wrong} with another amount or status"))
        if presale:
            sold = db.session.execute(text("SELECT sold FROM presale_quotas WHERE id = :id"),
                                      {"id": presale["quota_id"]}).scalar_one()
            out.append(Check(f"flash {tag}: presale quota conserved", 0 <= sold <= initial and sold == held
                             and stock == 0, f"quota {initial}: sold {sold} = in orders {held}; spot stock {stock}"))
        else:
            out.append(Check(f"flash {tag}: stock conserved", stock >= 0 and stock + held == initial,
                             f"initial {initial} = stock {stock} + in orders {held}"))
        out.append(Check(f"flash {tag}: no oversell", paid <= initial and held <= initial,
                         f"paid orders {paid} <= {initial}"))
        # wrk stops at its deadline with up to one request per connection in flight: the server may
        # have committed an order or a payment whose answer wrk never read.
        if lua.get("crashed"):
            out.append(Check(f"flash {tag}: load tool result", False, "wrk crashed: client-side counts lost"))
            counts = {"placed": orders, "paid": paid}  # nothing to compare against
        slack = int(flash.get("connections") or 0)
        placed, accepted = int(counts.get("placed", 0)), int(counts.get("paid", 0))
        out.append(Check(f"flash {tag}: one order per accepted checkout", placed <= orders <= placed + slack,
                         f"orders {orders}, accepted checkouts {placed} (+ up to {slack} in flight)"))
        out.append(Check(f"flash {tag}: every accepted payment is a paid order",
                         accepted <= paid <= accepted + slack,
                         f"paid orders {paid}, accepted payments {accepted} (+ up to {slack} in flight)"))
        coupon = flash.get("coupon")
        if coupon:
            used = db.session.execute(text("SELECT used FROM coupons_coupons WHERE id = :id"),
                                      {"id": coupon["id"]}).scalar_one()
            uses = db.session.execute(text(
                "SELECT COUNT(*) FROM coupons_uses WHERE coupon_id = :id AND status = 'used'"),
                {"id": coupon["id"]}).scalar_one()
            out.append(Check(f"flash {tag}: coupon uses <= limit", used <= coupon["limit"] and uses == used,
                             f"counter {used}, use rows {uses}, limit {coupon['limit']}"))
        db.session.remove()
    return out


def balance_checks(app, balance: dict, lua: dict) -> list[Check]:
    """After the balance rush: each order paid exactly its total, deposit and balance, never more."""
    tag, campaign = balance["tag"], balance["campaign_id"]
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT o.status, o.paid_total, o.total, "
            "(SELECT COALESCE(SUM(op.amount), 0) FROM order_payments op JOIN payments y ON y.id = op.payment_id "
            " WHERE op.order_id = o.id AND y.status = 'paid') AS received "
            "FROM orders o JOIN presale_orders p ON p.order_id = o.id "
            "WHERE p.campaign_id = :c AND o.paid_total > 0"), {"c": campaign}).all()
        db.session.remove()
    paid = [r for r in rows if r.status == "paid"]
    wrong = [r for r in rows if r.paid_total > r.total or r.paid_total != r.received
             or (r.status == "paid") != (r.paid_total == r.total)]
    accepted = int((lua.get("counts") or {}).get("paid", 0))
    slack = int(lua.get("connections") or 0)
    out = [Check(f"balance {tag}: money adds up", not wrong,
                 f"{len(rows)} deposit orders, {len(paid)} fully paid; {len(wrong)} paid more than their total, "
                 "or other than their paid payments, or paid in full but not marked paid")]
    if not lua.get("crashed"):
        out.append(Check(f"balance {tag}: every accepted balance payment is a paid order",
                         accepted <= len(paid) <= accepted + slack,
                         f"paid orders {len(paid)}, accepted payments {accepted} (+ up to {slack} in flight)"))
    return out


def reference_checks(state: dict) -> list[Check]:
    return [Check("reference checkout: stock conserved", state["sold"] == state["orders"],
                  f"sold {state['sold']} = orders {state['orders']}"),
            Check("reference checkout: two lines per order", state["lines"] == 2 * state["orders"],
                  f"lines {state['lines']}")]


#: Scenarios of buyers walking their steps: refusals (sold out, coupon gone) are expected answers.
BUYER_SCENARIOS = ("flash", "balance")


def status_checks(results: list[dict]) -> list[Check]:
    """No 5xx anywhere, and every page scenario answered 200, or its ``EXPECTED_STATUS``
    (a 302 means a broken cookie)."""
    out = []
    server_errors, unexpected = {}, {}
    for r in results:
        for key, n in (r.get("statuses") or {}).items():
            code = key.rsplit("_", 1)[-1]
            if code.startswith("5"):
                server_errors[f"{r['scenario']}:{key}"] = n
            elif r["scenario"] not in BUYER_SCENARIOS and code != EXPECTED_STATUS.get(r["scenario"], "200"):
                unexpected[f"{r['scenario']}:{key}"] = n
        # A flash buyer may wait longer than wrk's timeout in a 64-deep queue: slow, not wrong.
        if r["scenario"] not in BUYER_SCENARIOS and (r.get("socket_errors") or r.get("timeouts")):
            unexpected[f"{r['scenario']}:socket/timeouts"] = (r.get("socket_errors") or 0) + (r.get("timeouts") or 0)
    out.append(Check("no 5xx", not server_errors, ", ".join(f"{k}={v}" for k, v in server_errors.items()) or "0"))
    out.append(Check("pages answered 200", not unexpected,
                     ", ".join(f"{k}={v}" for k, v in unexpected.items()) or "all as expected"))
    return out


def delivery_checks(app, flash: dict, timeout: float = 120) -> tuple[list[Check], dict]:
    """With ``--worker``: every "paid" message of the flash's orders sent, and how long they waited
    from the payment's commit (queued) to the worker's send, in seconds."""
    from sqlalchemy import select

    from storefront.notify.models import OutboxMessage
    from storefront.orders.models import OrderLine

    # Through the ORM: SQLite hands plain text() queries their datetimes as strings.
    query = (select(OutboxMessage.status, OutboxMessage.created_at, OutboxMessage.sent_at)
             .where(OutboxMessage.kind == "order_paid",
                    OutboxMessage.order_id.in_(select(OrderLine.order_id).where(OrderLine.sku_id == flash["sku_id"]))))
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            rows = db.session.execute(query).all()
            db.session.rollback()
            if all(row.status == "sent" for row in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    waits = sorted((row.sent_at - row.created_at).total_seconds() for row in rows if row.status == "sent")
    sent = len(waits)

    def pct(p: float) -> float:
        return waits[min(len(waits) - 1, int(p * len(waits)))] if waits else 0.0

    stats = {"queued": len(rows), "sent": sent, "p50_s": pct(0.50), "p95_s": pct(0.95), "max_s": waits[-1] if waits else 0.0}
    check = Check(f"flash {flash['tag']}: every paid message sent by the worker", sent == len(rows) > 0,
                  f"{sent} of {len(rows)} sent; waited p50 {stats['p50_s']:.1f} s, p95 {stats['p95_s']:.1f} s, "
                  f"max {stats['max_s']:.1f} s")
    return [check], stats

"""Invariants of the shop's money, stock and timeline, read straight from the database.

Shared by the stateful property test (after every step) and the crash test
(after the server was killed mid-traffic). Every check recomputes from the
rows themselves, never from what the code under test says about them, and
returns a list of human-readable violations (empty = consistent).
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from storefront.catalog.models import Sku
from storefront.extensions import db
from storefront.orders.models import Order, OrderAdjustment, OrderEvent, OrderLine
from storefront.orders.status import OrderStatus
from storefront.payments.models import OrderPayment, Payment, PaymentStatus, Refund

RELEASING = {OrderStatus.PENDING_PAYMENT.value, OrderStatus.PAID.value}


def _orders() -> dict[int, Order]:
    db.session.expire_all()
    return {o.id: o for o in db.session.execute(select(Order).order_by(Order.id)).scalars()}


def _by_order(model, column) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for row in db.session.execute(select(model).order_by(model.id)).scalars():
        out[getattr(row, column)].append(row)
    return out


def order_totals(orders, lines, adjustments) -> list[str]:
    """Every order's numbers equal a fresh recomputation from its lines and adjustments."""
    bad = []
    for oid, order in orders.items():
        rows = lines.get(oid, [])
        adjs = adjustments.get(oid, [])
        if not rows:
            bad.append(f"order {oid} has no lines (half-written)")
            continue
        line_discount: dict[int, int] = defaultdict(int)
        for adj in adjs:
            if adj.kind == "discount" and adj.amount < 0:
                alloc = {int(k): int(v) for k, v in (adj.allocation or {}).items()}
                if sum(alloc.values()) != -adj.amount:
                    bad.append(f"order {oid} adjustment {adj.code} allocates {sum(alloc.values())} of {-adj.amount}")
                for line_id, part in alloc.items():
                    line_discount[line_id] += part
            if adj.kind == "shipping" and adj.amount < 0 and -adj.amount > order.shipping_total:
                bad.append(f"order {oid} shipping adjustment {adj.amount} beyond the fee {order.shipping_total}")
        for line in rows:
            if line.line_subtotal != line.unit_price * line.quantity:
                bad.append(f"line {line.id}: subtotal {line.line_subtotal} != {line.unit_price} x {line.quantity}")
            if line.paid_amount != line.line_subtotal - line.discount or line.discount < 0:
                bad.append(f"line {line.id}: paid {line.paid_amount} != {line.line_subtotal} - {line.discount}")
            if line.discount != line_discount.get(line.id, 0):
                bad.append(f"line {line.id}: discount {line.discount} != allocations {line_discount.get(line.id, 0)}")
        subtotal = sum(line.line_subtotal for line in rows)
        if order.subtotal != subtotal:
            bad.append(f"order {oid}: subtotal {order.subtotal} != lines {subtotal}")
        if order.discount_total != -sum(a.amount for a in adjs if a.kind == "discount"):
            bad.append(f"order {oid}: discount_total {order.discount_total} != adjustments")
        expected = max(order.subtotal + sum(a.amount for a in adjs) + order.shipping_total, 0)
        if order.total != expected:
            bad.append(f"order {oid}: total {order.total} != recomputed {expected}")
    return bad


def payments_and_refunds(orders, lines) -> list[str]:
    """Paid = what paid payments brought; refunded <= paid per line, per payment, per order."""
    bad = []
    links = _by_order(OrderPayment, "order_id")
    payments = {p.id: p for p in db.session.execute(select(Payment)).scalars()}
    refunds = _by_order(Refund, "order_id")
    for oid, order in orders.items():
        received = sum(link.amount for link in links.get(oid, [])
                       if payments[link.payment_id].status == PaymentStatus.PAID)
        if order.paid_total != received:
            bad.append(f"order {oid}: paid_total {order.paid_total} != paid payments {received}")
        status = OrderStatus(order.status)
        if status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED) and order.paid_total != order.total:
            bad.append(f"order {oid} is {status.value} with paid_total {order.paid_total} != total {order.total}")
        if status == OrderStatus.PENDING_PAYMENT and order.paid_total >= order.total > 0:
            bad.append(f"order {oid} is fully paid ({order.paid_total}) but still pending")
        if not 0 <= order.refunded_total <= order.paid_total:
            bad.append(f"order {oid}: refunded {order.refunded_total} outside 0..paid {order.paid_total}")
        sent = sum(r.amount for r in refunds.get(oid, []) if r.status != "failed")
        if sent != order.refunded_total:
            bad.append(f"order {oid}: refund rows {sent} != refunded_total {order.refunded_total}")
        if sum(link.refunded for link in links.get(oid, [])) != order.refunded_total:
            bad.append(f"order {oid}: payment parts refunded != refunded_total {order.refunded_total}")
        for link in links.get(oid, []):
            if not 0 <= link.refunded <= link.amount:
                bad.append(f"order {oid}: payment {link.payment_id} refunded {link.refunded} of {link.amount}")
        for line in lines.get(oid, []):
            if not 0 <= line.refunded_amount <= line.paid_amount:
                bad.append(f"line {line.id}: refunded {line.refunded_amount} outside 0..{line.paid_amount}")
        if sum(line.refunded_amount for line in lines.get(oid, [])) > order.refunded_total:
            bad.append(f"order {oid}: lines refunded more than the order")
    for payment in payments.values():
        if payment.status == PaymentStatus.PAID:
            parts = [link for rows in links.values() for link in rows if link.payment_id == payment.id]
            if sum(link.amount for link in parts) != payment.amount:
                bad.append(f"payment {payment.id}: parts {sum(x.amount for x in parts)} != amount {payment.amount}")
    return bad


def timeline(orders, events) -> list[str]:
    """Each order was placed once and every status change is on its timeline, in sequence."""
    bad = []
    for oid, order in orders.items():
        rows = events.get(oid, [])
        if [e.kind for e in rows].count("placed") != 1:
            bad.append(f"order {oid}: {[e.kind for e in rows].count('placed')} 'placed' events")
        status = OrderStatus.PENDING_PAYMENT.value
        for event in rows:
            if event.kind != "status":
                continue
            if event.from_status != status:
                bad.append(f"order {oid}: event {event.id} from {event.from_status}, order was {status}")
            status = event.to_status
        if status != OrderStatus(order.status).value:
            bad.append(f"order {oid}: timeline ends at {status}, order is {OrderStatus(order.status).value}")
        for to, column in (("paid", "paid_at"), ("shipped", "shipped_at"), ("closed", "closed_at")):
            reached = any(e.kind == "status" and e.to_status == to for e in rows)
            if reached != (getattr(order, column) is not None):
                bad.append(f"order {oid}: {column} set={getattr(order, column) is not None}, event={reached}")
    return bad


def releases_stock(order, events) -> bool:
    """Whether closing ``order`` put its spot stock back (the rule of ``orders.services._close``)."""
    if OrderStatus(order.status) != OrderStatus.CLOSED:
        return False
    close = next(e for e in events if e.kind == "status" and e.to_status == OrderStatus.CLOSED.value)
    if close.from_status in RELEASING:
        return True
    # Shipped -> closed gives the goods back only when they never left the shop (an uncollected pickup).
    return any(e.kind == "pickup_uncollected" for e in events)


def spot_stock(initial: dict[int, int], orders, lines, events, restocked: dict[int, int]) -> list[str]:
    """stock + held by orders - restocked returns = initial, per SKU with spot stock."""
    held: dict[int, int] = defaultdict(int)
    for oid, order in orders.items():
        if releases_stock(order, events.get(oid, [])):
            continue
        for line in lines.get(oid, []):
            if line.sku_id is not None and not (line.data or {}).get("no_stock_release"):
                held[line.sku_id] += line.quantity
    bad = []
    for sku_id, start in initial.items():
        stock = db.session.get(Sku, sku_id).stock
        if stock + held[sku_id] - restocked.get(sku_id, 0) != start:
            bad.append(f"sku {sku_id}: stock {stock} + held {held[sku_id]} - restocked "
                       f"{restocked.get(sku_id, 0)} != initial {start}")
        if stock < 0:
            bad.append(f"sku {sku_id}: negative stock {stock}")
    return bad


def load():
    """(orders, lines, adjustments, events) by order id, fresh from the database."""
    orders = _orders()
    return (orders, _by_order(OrderLine, "order_id"), _by_order(OrderAdjustment, "order_id"),
            _by_order(OrderEvent, "order_id"))


def core_violations(initial_stock: dict[int, int], restocked: dict[int, int] | None = None) -> list[str]:
    orders, lines, adjustments, events = load()
    return (order_totals(orders, lines, adjustments) + payments_and_refunds(orders, lines)
            + timeline(orders, events) + spot_stock(initial_stock, orders, lines, events, restocked or {}))


# -- plugins ----------------------------------------------------------------------------------
def presale_quotas(orders, lines) -> list[str]:
    """sold = quota held by open orders' reservations; sold + left = quota (a presale's own stock)."""
    from plugins.presale.models import Quota, Reservation

    bad = []
    held: dict[int, int] = defaultdict(int)
    for row in db.session.execute(select(Reservation)).scalars():
        order = orders[row.order_id]
        closed = OrderStatus(order.status) == OrderStatus.CLOSED
        if row.released_at is None:
            held[row.quota_id] += row.quantity
            if closed:
                bad.append(f"reservation {row.id} of closed order {row.order_id} not released")
        elif not closed:
            bad.append(f"reservation {row.id} released but order {row.order_id} is {order.status}")
    for quota in db.session.execute(select(Quota)).scalars():
        if quota.sold != held[quota.id]:
            bad.append(f"quota {quota.id}: sold {quota.sold} != held by reservations {held[quota.id]}")
        if not 0 <= quota.sold <= quota.quota:
            bad.append(f"quota {quota.id}: sold {quota.sold} outside 0..{quota.quota}")
        open_lines = sum(line.quantity for oid, rows in lines.items() for line in rows
                         if line.sku_id == quota.sku_id and (line.data or {}).get("no_stock_release")
                         and OrderStatus(orders[oid].status) != OrderStatus.CLOSED)
        if open_lines != quota.sold:
            bad.append(f"quota {quota.id}: open presale lines {open_lines} != sold {quota.sold}")
    return bad


def coupon_uses() -> list[str]:
    """A coupon's counter equals its live uses and stays within its limits (total and per buyer)."""
    from plugins.coupons.models import BuyerCount, Coupon, CouponUse

    bad = []
    uses = list(db.session.execute(select(CouponUse)).scalars())
    for coupon in db.session.execute(select(Coupon)).scalars():
        live = [u for u in uses if u.coupon_id == coupon.id and u.status == "used"]
        if coupon.used != len(live):
            bad.append(f"coupon {coupon.id}: used {coupon.used} != live uses {len(live)}")
        if coupon.total_quantity is not None and coupon.used > coupon.total_quantity:
            bad.append(f"coupon {coupon.id}: used {coupon.used} > limit {coupon.total_quantity}")
        for count in db.session.execute(select(BuyerCount).where(BuyerCount.coupon_id == coupon.id)).scalars():
            mine = sum(1 for u in live if u.user_id == count.user_id)
            if count.used != mine:
                bad.append(f"coupon {coupon.id} buyer {count.user_id}: count {count.used} != uses {mine}")
            if coupon.per_buyer_limit is not None and count.used > coupon.per_buyer_limit:
                bad.append(f"coupon {coupon.id} buyer {count.user_id}: {count.used} > {coupon.per_buyer_limit}")
    return bad


def pickup_stock(initial: dict[tuple[int, int], int]) -> list[str]:
    """A store's shelf + what unreleased pickups took from it = its initial allocation."""
    from plugins.store_pickup.models import COLLECTED, LocationStock, Pickup

    held: dict[tuple[int, int], int] = defaultdict(int)
    for pickup in db.session.execute(select(Pickup)).scalars():
        if pickup.released_at is None or pickup.status == COLLECTED:
            for sku_id, quantity in pickup.stock_lines or ():
                held[(pickup.location_id, int(sku_id))] += int(quantity)
    bad = []
    for (location_id, sku_id), start in initial.items():
        row = db.session.execute(select(LocationStock).where(LocationStock.location_id == location_id,
                                                             LocationStock.sku_id == sku_id)).scalar_one()
        if row.quantity + held[(location_id, sku_id)] != start:
            bad.append(f"store {location_id} sku {sku_id}: {row.quantity} + held {held[(location_id, sku_id)]}"
                       f" != initial {start}")
    return bad


def restocked_returns() -> dict[int, int]:
    """Quantities after-sales put back on sale (returns inspected as ``restock``), per SKU."""
    from plugins.aftersales.models import Case, CaseLine

    out: dict[int, int] = defaultdict(int)
    rows = db.session.execute(
        select(OrderLine.sku_id, CaseLine.quantity).join(CaseLine, CaseLine.order_line_id == OrderLine.id)
        .join(Case, Case.id == CaseLine.case_id).where(Case.inspection_result == "restock")).all()
    for sku_id, quantity in rows:
        if sku_id is not None:
            out[sku_id] += quantity
    return out

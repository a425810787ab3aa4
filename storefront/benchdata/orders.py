"""One realistic order at a time, written as plain tuples to the bulk writer.

Status follows the order's age the way a real shop's does: the last half
hour still has unpaid orders, the last two days paid ones waiting to ship,
the last ten days parcels on the road, older ones completed; about one in
twelve closed unpaid, some cancelled and refunded, some partly refunded.
About one in twenty is a store pickup when that plugin's tables exist;
shipped courier orders get a parcel with tracking events when the
order-tracking tables exist. A Double-11 peak puts 15 % of the orders on one day.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from .writer import BulkWriter

CARRIERS = [("sf", "SF Express"), ("zto", "ZTO Express"), ("yto", "YTO Express")]
TRACK_STEPS = [("info", "Parcel collected"), ("in_transit", "Departed sorting centre"),
               ("in_transit", "Arrived at destination city"), ("out_for_delivery", "Out for delivery"),
               ("delivered", "Delivered")]
NOTES = ["Buyer asked to change the delivery time.", "Gift wrap requested.", "Called buyer: will collect later.",
         "Address corrected by phone.", "Refund approved for a damaged item."]


class OrderFactory:
    def __init__(self, writer: BulkWriter, rng: random.Random, now: datetime, days: int,
                 skus: list[tuple], buyers: list[tuple], staff: list[tuple]) -> None:
        self.w, self.rng, self.now, self.days = writer, rng, now, days
        self.skus, self.buyers, self.staff = skus, buyers, staff
        self.peak = now - timedelta(days=11)
        self.ids = {name: writer.next_id(name) for name in
                    ("orders", "order_lines", "order_events", "payments", "refunds", "order_notes")}
        self.payments = writer.buffer("payments", [
            "id", "reference", "idempotency_key", "user_id", "provider", "provider_ref", "status", "amount",
            "currency", "created_at", "paid_at", "data"])
        self.orders = writer.buffer("orders", [
            "id", "number", "user_id", "payment_id", "status", "currency", "subtotal", "discount_total",
            "shipping_total", "total", "delivery_code", "delivery_label", "ship_name", "ship_phone",
            "ship_address", "contact_email", "buyer_note", "carrier", "tracking_number", "placed_at",
            "pay_deadline", "paid_at", "ship_by", "ship_overdue_at", "shipped_at", "auto_confirm_at",
            "auto_confirm_extended", "completed_at", "closed_at", "close_reason", "closed_by_seller",
            "paid_total", "refunded_total", "data"])
        self.lines = writer.buffer("order_lines", [
            "id", "order_id", "sku_id", "product_id", "product_name", "sku_code", "sku_label", "unit_price",
            "quantity", "line_subtotal", "discount", "paid_amount", "refunded_amount", "data"])
        self.events = writer.buffer("order_events", [
            "id", "order_id", "at", "kind", "actor_kind", "actor_id", "actor_label", "from_status", "to_status",
            "reason", "source", "public", "data"])
        self.refunds = writer.buffer("refunds", [
            "id", "payment_id", "order_id", "idempotency_key", "amount", "currency", "reason", "provider_ref",
            "status", "created_at", "data"])
        self.notes = writer.buffer("order_notes", [
            "id", "order_id", "author_id", "author_label", "is_staff", "flag", "body", "created_at"])
        self.order_payments = None
        if writer.has("order_payments"):
            self.ids["order_payments"] = writer.next_id("order_payments")
            self.order_payments = writer.buffer("order_payments", [
                "id", "order_id", "payment_id", "amount", "refunded", "created_at"])
        self.tracking = writer.has("order_tracking_parcels") and writer.has("order_tracking_events")
        if self.tracking:
            self.ids["order_tracking_parcels"] = writer.next_id("order_tracking_parcels")
            self.ids["order_tracking_events"] = writer.next_id("order_tracking_events")
            self.parcels = writer.buffer("order_tracking_parcels", [
                "id", "order_id", "carrier_code", "carrier_name", "tracking_number", "created_at",
                "last_event_at", "last_status", "last_status_at", "delivered_at"])
            self.track_events = writer.buffer("order_tracking_events", [
                "id", "parcel_id", "at", "status", "location", "description", "source", "external_id",
                "created_at"])
        self.pickup_locations = self._pickup_locations() if writer.has("store_pickup_pickups") else []
        if self.pickup_locations:
            self.ids["store_pickup_pickups"] = writer.next_id("store_pickup_pickups")
            self.pickups = writer.buffer("store_pickup_pickups", [
                "id", "order_id", "location_id", "slot_start", "slot_end", "contact_name", "contact_phone",
                "status", "reference", "code", "open_code", "created_at", "ready_at", "reminded_at",
                "collected_at", "cancelled_at", "collected_by"])

    def _pickup_locations(self) -> list[int]:
        first = self.w.next_id("store_pickup_locations")
        buf = self.w.buffer("store_pickup_locations", [
            "id", "name", "address", "city", "province", "phone", "map_url", "hours", "closed_dates",
            "prep_minutes", "slot_minutes", "slot_capacity", "active", "created_at"])
        hours = {str(d): ["10:00", "21:00"] for d in range(7)}
        for i in range(2):
            buf.add((first + i, f"Bench store {first + i}", f"{i + 1} Nanjing Road", "Shanghai", "Shanghai",
                     "021-5555000", "", hours, [], 60, 30, 20, True, self.now - timedelta(days=400)))
        return [first, first + 1]

    def _next(self, name: str) -> int:
        value = self.ids[name]
        self.ids[name] = value + 1
        return value

    def _placed_at(self) -> datetime:
        if self.rng.random() < 0.15:
            return self.peak + timedelta(seconds=self.rng.randint(0, 86_399))
        return self.now - timedelta(seconds=self.rng.randint(0, self.days * 86_400 - 1))

    def _event(self, order_id, at, kind, actor, from_status=None, to_status=None, reason="", source="core",
               data=None):
        actor_kind, actor_id, label = actor
        self.events.add((self._next("order_events"), order_id, at, kind, actor_kind, actor_id, label,
                         from_status, to_status, reason, source, True, data or {}))

    def order(self) -> None:  # noqa: C901 - one linear story per order reads best as one function
        rng = self.rng
        oid = self._next("orders")
        pay_id = self._next("payments")
        buyer_id, email, name, phone, address = rng.choice(self.buyers)
        buyer = ("buyer", buyer_id, name)
        system = ("system", None, "system")
        placed = self._placed_at()
        age = (self.now - placed).total_seconds()
        pickup = bool(self.pickup_locations) and rng.random() < 0.05
        # Lines
        subtotal, lines = 0, []
        for sku in rng.sample(self.skus, rng.choices((1, 2, 3), (60, 30, 10))[0]):
            qty = 1 if rng.random() < 0.85 else rng.randint(2, 3)
            lines.append((sku, qty, sku[5] * qty))
            subtotal += sku[5] * qty
        discount = min(lines[0][2], subtotal // 10) if rng.random() < 0.2 else 0
        shipping = 0 if pickup or subtotal >= 29900 else 1000
        total = subtotal - discount + shipping
        # Status by age
        r = rng.random()
        paid_at = shipped_at = completed_at = closed_at = close_reason = None
        status, refund = "pending_payment", 0
        if age < 1800 and r < 0.5:
            pass
        elif age >= 1800 and r < 0.08:
            status, closed_at, close_reason = "closed", placed + timedelta(minutes=30), "payment_timeout"
        else:
            paid_at = placed + timedelta(seconds=rng.randint(20, 900))
            paid_at = min(paid_at, self.now)
            status = "paid"
            if age > 86_400 * 2 or (age > 86_400 and rng.random() < 0.5):
                shipped_at = paid_at + timedelta(hours=rng.randint(2, 40))
                status = "shipped"
                if age > 86_400 * 10 and rng.random() < 0.95:
                    completed_at = shipped_at + timedelta(days=rng.randint(2, 10))
                    status = "completed"
            if age >= 1800 and r < 0.10:  # cancelled after paying: full refund
                closed_at = paid_at + timedelta(hours=rng.randint(1, 20))
                status, close_reason, shipped_at, completed_at = "closed", "buyer_cancelled", None, None
                refund = total
            elif status in ("shipped", "completed") and r < 0.13:  # after-sales: one line refunded
                refund = lines[0][2] - discount
        ship_by = paid_at + timedelta(hours=48) if paid_at else None
        auto_confirm = shipped_at + timedelta(days=10) if shipped_at else None
        carrier = tracking_number = None
        if shipped_at and not pickup:
            carrier = rng.choice(CARRIERS)
            tracking_number = f"{carrier[0].upper()}{oid:012d}"
        delivery = ("store_pickup", "Pick up in store") if pickup else ("courier", "Courier")
        ship = {} if pickup else address
        ship_line = ", ".join(v for k, v in address.items() if k in ("province", "city", "district", "line1",
                                                                    "postcode") and v) if ship else ""
        number = placed.strftime("%Y%m%d") + f"{oid % 10**8:08d}"
        self.orders.add((
            oid, number, buyer_id, pay_id, status, "CNY", subtotal, discount, shipping, total,
            delivery[0], delivery[1], ship.get("name", ""), ship.get("phone", ""), ship_line, email,
            "Please ring twice." if rng.random() < 0.05 else "", carrier[1] if carrier else None,
            tracking_number, placed, placed + timedelta(minutes=30), paid_at, ship_by, None, shipped_at,
            auto_confirm if status == "shipped" else None, 0, completed_at, closed_at, close_reason, False,
            total if paid_at else 0, refund,
            {"address": ship or None, "group": {"key": "main", "label": "", "ship_promise": None}}))
        first_line_id = None
        for i, (sku, qty, line_subtotal) in enumerate(lines):
            line_id = self._next("order_lines")
            first_line_id = first_line_id or line_id
            line_discount = discount if i == 0 else 0
            if refund == total:
                refunded = line_subtotal - line_discount
            else:
                refunded = refund if i == 0 else 0
            self.lines.add((line_id, oid, sku[0], sku[1], sku[2], sku[3], sku[4], sku[5], qty, line_subtotal,
                            line_discount, line_subtotal - line_discount, refunded,
                            {"ship_promise": None, "group": "main", "badges": []}))
        # Payment
        reference = f"bench{pay_id:019x}"
        pay_status = "paid" if paid_at else ("pending" if status == "pending_payment" else "cancelled")
        self.payments.add((pay_id, reference, f"bench-{pay_id}", buyer_id, "test",
                           f"test_{reference}" if paid_at else None, pay_status, total, "CNY", placed, paid_at,
                           {}))
        if self.order_payments is not None:
            self.order_payments.add((self._next("order_payments"), oid, pay_id, total, refund, placed))
        # Timeline
        self._event(oid, placed, "placed", buyer)
        if paid_at:
            self._event(oid, paid_at, "status", buyer, "pending_payment", "paid")
        if shipped_at:
            staff_id, staff_label = rng.choice(self.staff)
            self._event(oid, shipped_at, "status", ("staff", staff_id, staff_label), "paid", "shipped")
        if completed_at:
            self._event(oid, completed_at, "status", rng.choice((buyer, system)), "shipped", "completed")
        if closed_at:
            self._event(oid, closed_at, "status", buyer if paid_at else system,
                        "paid" if paid_at else "pending_payment", "closed", data={"close_reason": close_reason})
        if refund:
            refund_at = closed_at or (completed_at or shipped_at) + timedelta(days=1)
            rid = self._next("refunds")
            key = f"bench-refund-{rid}"
            self.refunds.add((rid, pay_id, oid, key, refund, "CNY",
                              "Buyer cancelled" if refund == total else "Damaged item", f"test_refund_{rid}",
                              "succeeded", refund_at, {"lines": {str(first_line_id): refund}, "total": refund,
                                                       "parts": [{"payment_id": pay_id, "amount": refund}]}))
            self._event(oid, refund_at, "refund", system, reason="refund", data={"amount": refund, "refund_key": key})
        if rng.random() < 0.05:
            staff_id, staff_label = rng.choice(self.staff)
            self.notes.add((self._next("order_notes"), oid, staff_id, staff_label, True,
                            rng.choice(("none", "none", "red", "blue")), rng.choice(NOTES),
                            placed + timedelta(hours=1)))
        if carrier and self.tracking:
            self._parcel(oid, carrier, tracking_number, shipped_at, completed_at)
        if pickup:
            self._pickup(oid, placed, paid_at, shipped_at, completed_at, closed_at, name, phone)

    def _parcel(self, oid, carrier, tracking_number, shipped_at, completed_at) -> None:
        pid = self._next("order_tracking_parcels")
        steps = TRACK_STEPS if completed_at else TRACK_STEPS[:self.rng.randint(1, 4)]
        at = shipped_at
        stamps = []
        for status, text in steps:
            at = min(at + timedelta(hours=self.rng.randint(3, 20)), self.now)
            stamps.append((status, text, at))
        last_status, _, last_at = stamps[-1]
        self.parcels.add((pid, oid, carrier[0], carrier[1], tracking_number, shipped_at, last_at, last_status,
                          last_at, last_at if last_status == "delivered" else None))
        for status, text, at in stamps:
            self.track_events.add((self._next("order_tracking_events"), pid, at, status, "Shanghai", text,
                                   "carrier", None, at))

    def _pickup(self, oid, placed, paid_at, ready_at, collected_at, closed_at, name, phone) -> None:
        pid = self._next("store_pickup_pickups")
        slot = (paid_at or placed).replace(minute=0, second=0) + timedelta(hours=3)
        if closed_at:
            status = "cancelled"
        elif collected_at:
            status = "collected"
        elif ready_at:
            status = "ready"
        else:
            status = "preparing"
        code = f"{pid % 10**6:06d}"
        open_code = f"{pid:08d}" if status in ("preparing", "ready") else None
        self.pickups.add((pid, oid, self.rng.choice(self.pickup_locations), slot, slot + timedelta(minutes=30),
                          name, phone, status, f"PU{pid:08d}", code, open_code, placed, ready_at, None,
                          collected_at, closed_at if status == "cancelled" else None, None))

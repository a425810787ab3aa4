"""After-sales cases for the generated orders (the aftersales plugin's tables, written by name).

A pass over orders already written (by this run, or by an earlier one with
``bench-data --aftersales-only``), so a 1,000,000-order database can gain
cases without being generated again. About 4 % of paid orders get a case:

- every one-line refund the order generator made on a shipped order becomes
  the refunded case that paid it (refund-only or return-and-refund), and half
  the cancellations after payment the refunded unshipped request that
  cancelled them; the refund rows take the case's idempotency key, as
  ``actions.refund`` would have written;
- 1.5 % of the other paid orders get a case that moved no money: open
  (requested, approved, awaiting return, returning, arrived, inspected) when
  made in the last three days on an order still paid or shipped, else ended
  (rejected, cancelled, closed, or reshipped for an exchange). A few open
  ones are a second request after a rejected one: escalated to the owner.

Each case has its lines, its own events (``aftersales_events``) mirrored on
the order's public timeline as ``aftersales_<kind>`` like ``services.log``
does, and for a third of them a buyer message and a staff answer.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from .writer import BulkWriter

CASES_TABLE = "aftersales_cases"
TABLES = (CASES_TABLE, "aftersales_case_lines", "aftersales_events", "aftersales_messages")
CHUNK = 20_000
OTHER_SHARE = 0.015
OPEN_WINDOW = timedelta(days=3)
RETURN_ADDRESS = "Returns desk, 1 Nanjing Road, Shanghai"
REFUND_REASONS = ("damaged", "quality", "not_as_described", "wrong_item", "missing_item")
OTHER_REASONS = ("changed_mind", "quality", "not_as_described", "not_received", "late_shipment", "price_difference")
LOGISTICS = ("not_received", "late_shipment")
BUYER_TEXT = "The parcel arrived damaged, please see the photos."
STAFF_TEXT = "Sorry about that. We are looking into it."


def available(writer: BulkWriter) -> bool:
    return all(writer.has(name) for name in TABLES)


class CaseFactory:
    def __init__(self, writer: BulkWriter, rng: random.Random, now: datetime, staff: list[tuple]) -> None:
        self.w, self.rng, self.now, self.staff = writer, rng, now, staff
        self.ids = {name: writer.next_id(name) for name in TABLES + ("order_events",)}
        self.cases = writer.buffer(CASES_TABLE, [
            "id", "number", "order_id", "user_id", "kind", "status", "reason", "description", "amount_requested",
            "amount_refunded", "currency", "category", "assignee_id", "attempt", "escalated", "auto_approved",
            "return_address", "return_carrier", "return_tracking", "return_deadline", "inspection_result",
            "refund_method", "created_at", "first_response_at", "approved_at", "buyer_shipped_at", "arrived_at",
            "inspected_at", "refunded_at", "completed_at", "closed_at", "updated_at"])
        self.lines = writer.buffer("aftersales_case_lines", ["id", "case_id", "order_line_id", "quantity", "amount"])
        self.events = writer.buffer("aftersales_events", [
            "id", "case_id", "at", "kind", "actor_kind", "actor_id", "actor_label", "from_status", "to_status",
            "note", "data"])
        self.order_events = writer.buffer("order_events", [
            "id", "order_id", "at", "kind", "actor_kind", "actor_id", "actor_label", "from_status", "to_status",
            "reason", "source", "public", "data"])
        self.messages = writer.buffer("aftersales_messages", ["id", "case_id", "author_id", "is_staff", "body",
                                                              "created_at"])
        self.refund_keys: list[tuple[str, int]] = []
        self.written = 0

    def _next(self, name: str) -> int:
        value = self.ids[name]
        self.ids[name] = value + 1
        return value

    # -- reading the orders --------------------------------------------------------------
    def run(self, first_order_id: int = 1) -> int:
        """Cases for the paid orders with ``id >= first_order_id``; returns how many were written."""
        after = first_order_id - 1
        while True:
            orders = self._query(
                "SELECT id, user_id, status, paid_at, shipped_at, completed_at, closed_at, close_reason, total,"
                " refunded_total, currency FROM orders WHERE id > {} AND paid_at IS NOT NULL ORDER BY id LIMIT {}",
                after, CHUNK)
            if not orders:
                break
            after = orders[-1][0]
            if not self.w.is_pg:  # pysqlite hands back SQLAlchemy's DATETIME text
                orders = [o[:3] + tuple(_dt(v) for v in o[3:7]) + o[7:] for o in orders]
            picked = [(o, self._pick(o)) for o in orders]
            picked = [(o, what) for o, what in picked if what]
            ids = [o[0] for o, _what in picked]
            lines, refunds = self._children(ids)
            for order, what in picked:
                self._case(order, what, lines.get(order[0], []), refunds.get(order[0]))
            self.w.flush_all()
        self._relabel_refunds()
        return self.written

    def _query(self, sql: str, *params) -> list[tuple]:
        cursor = self.w.conn.cursor()
        try:
            cursor.execute(sql.format(*("%s" if self.w.is_pg else "?" for _ in params)), params)
            return [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def _children(self, ids: list[int]) -> tuple[dict, dict]:
        lines: dict[int, list] = {}
        refunds: dict[int, tuple] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ", ".join("{}" for _ in part)
            for row in self._query(f"SELECT order_id, id, quantity, paid_amount FROM order_lines "
                                   f"WHERE order_id IN ({marks}) ORDER BY id", *part):
                lines.setdefault(row[0], []).append(row[1:])
            for row in self._query(f"SELECT order_id, id, amount, created_at FROM refunds "
                                   f"WHERE order_id IN ({marks}) ORDER BY id", *part):
                refunds.setdefault(row[0], (row[1], row[2], _dt(row[3])))
        return lines, refunds

    def _pick(self, order) -> str | None:
        _id, _user, status, _paid, _shipped, _completed, _closed, close_reason, _total, refunded, _cur = order
        roll = self.rng.random()
        if refunded and close_reason == "buyer_cancelled":
            return "refunded_unshipped" if roll < 0.5 else None
        if refunded and status in ("shipped", "completed"):
            return "refunded_shipped"
        if status in ("paid", "shipped", "completed") and roll < OTHER_SHARE:
            return "other"
        return None

    # -- writing one case ----------------------------------------------------------------
    def _case(self, order, what: str, lines: list, refund) -> None:
        if not lines:
            return
        oid, user_id, status, paid_at, shipped_at, completed_at, closed_at, _reason, total, _refunded, cur = order
        if what == "refunded_unshipped":
            if refund is None:
                return
            created = max(paid_at, closed_at - timedelta(minutes=self.rng.randint(5, 60)))
            self._write(order, "refund_unshipped", "refunded", self.rng.choice(("changed_mind", "late_shipment")),
                        created, int(total), [(line[0], line[1], int(line[2])) for line in lines], refund)
        elif what == "refunded_shipped":
            if refund is None:
                return
            refund_id, amount, refund_at = refund
            created = max(shipped_at + timedelta(hours=1), refund_at - timedelta(hours=self.rng.randint(6, 20)))
            kind = "refund_shipped" if self.rng.random() < 0.6 else "return_refund"
            self._write(order, kind, "refunded", self.rng.choice(REFUND_REASONS), created, int(amount),
                        [(lines[0][0], lines[0][1], int(amount))], refund)
        else:
            self._other(order, lines)

    def _other(self, order, lines) -> None:
        rng = self.rng
        oid, user_id, status, paid_at, shipped_at, completed_at, *_rest = order
        if status == "paid":
            kind = "refund_unshipped"
            created = paid_at + timedelta(minutes=rng.randint(10, 600))
        else:
            kind = rng.choices(("refund_shipped", "return_refund", "exchange"), (45, 45, 10))[0]
            created = shipped_at + timedelta(hours=rng.randint(12, 24 * 8))
        created = max(paid_at, min(created, self.now - timedelta(minutes=rng.randint(1, 120))))
        reason = rng.choice(OTHER_REASONS)
        line = lines[0]
        amount = sum(int(x[2]) for x in lines) if kind == "refund_unshipped" else int(line[2])
        shares = [(x[0], x[1], int(x[2])) for x in lines] if kind == "refund_unshipped" else [(line[0], line[1], amount)]
        if kind == "exchange":
            amount, shares = 0, [(line[0], line[1], 0)]
        young = self.now - created < OPEN_WINDOW
        if young and status in ("paid", "shipped"):
            if kind == "refund_unshipped":
                state = "requested"  # approving it closes the order at once
            elif kind == "refund_shipped":
                state = rng.choice(("requested", "requested", "approved"))
            else:
                state = rng.choice(("requested", "awaiting_return", "returning", "arrived", "inspected"))
            if state == "requested" and rng.random() < 0.1:
                # A second request after a rejected one: the owner decides.
                earlier = created - timedelta(hours=rng.randint(2, 12))
                self._write(order, kind, "rejected", reason, max(earlier, paid_at), amount, shares, None)
                self._write(order, kind, state, reason, created, amount, shares, None, attempt=2)
                return
        elif kind == "exchange":
            state = rng.choice(("reshipped", "reshipped", "rejected", "cancelled"))
        else:
            state = rng.choices(("rejected", "cancelled", "closed"), (45, 35, 20))[0]
        self._write(order, kind, state, reason, created, amount, shares, None)

    def _write(self, order, kind, state, reason, created, amount, shares, refund, attempt: int = 1) -> None:
        rng = self.rng
        oid, user_id, _status, _paid, _shipped, _completed, _closed, _reason, _total, _ref, currency = order
        cid = self._next(CASES_TABLE)
        number = f"AS{created:%y%m%d}{cid % 10**6:06d}"
        buyer = ("buyer", user_id, f"buyer{user_id}")
        staff_id, staff_label = rng.choice(self.staff)
        staff = ("staff", staff_id, staff_label)
        returns = kind in ("return_refund", "exchange")
        end = refund[2] if refund else None
        # The path the case took, as (status reached, kind of event, actor, at).
        steps = [("requested", "requested", buyer, created)]
        at = created
        answered = state != "requested" or rng.random() < 0.6

        def step(to, event, actor, hours=(1, 20)):
            nonlocal at
            at = at + timedelta(minutes=rng.randint(hours[0] * 60, hours[1] * 60))
            if end is not None:
                at = min(at, end)
            at = min(at, self.now)
            steps.append((to, event, actor, at))

        path = {"approved": ["approved"], "awaiting_return": ["awaiting_return"],
                "returning": ["awaiting_return", "returning"], "arrived": ["awaiting_return", "returning", "arrived"],
                "inspected": ["awaiting_return", "returning", "arrived", "inspected"],
                "reshipped": ["awaiting_return", "returning", "arrived", "reshipped"],
                "refunded": (["awaiting_return", "returning", "arrived", "inspected", "refunded"] if returns
                             else ["approved", "refunded"]),
                "rejected": ["rejected"], "cancelled": ["cancelled"],
                "closed": ["awaiting_return", "closed"] if returns else ["closed"]}.get(state, [])
        events = {"approved": "approved", "awaiting_return": "approved", "returning": "return_posted",
                  "arrived": "arrived", "inspected": "inspected", "refunded": "refunded", "reshipped": "reshipped",
                  "rejected": "rejected", "cancelled": "cancelled", "closed": "closed"}
        for to in path:
            actor = buyer if to in ("returning", "cancelled") else ("system", None, "system") if to == "closed" \
                else staff
            step(to, events[to], actor, (24, 72) if to in ("returning", "arrived") else (1, 20))
        stamp = {s[0]: s[3] for s in steps}
        approved_at = stamp.get("approved") or stamp.get("awaiting_return")
        if approved_at is None and state == "refunded":
            approved_at = stamp.get("refunded")
        first_response = next((s[3] for s in steps if s[2][0] == "staff"), None)
        if first_response is None and answered and state == "requested":
            first_response = min(created + timedelta(minutes=rng.randint(2, 90)), self.now)
        refunded_at = stamp.get("refunded")
        completed_at = refunded_at or stamp.get("reshipped")
        closed_at = stamp.get("rejected") or stamp.get("cancelled") or stamp.get("closed")
        escalated = attempt > 1
        category = "difficult" if escalated else "tracking" if reason in LOGISTICS else "back_office"
        assignee = staff_id if (state not in ("requested",) or rng.random() < 0.4) else None
        deadline = approved_at + timedelta(days=7) if returns and approved_at else None
        self.cases.add((
            cid, number, oid, user_id, kind, state, reason, "" if rng.random() < 0.5 else BUYER_TEXT, amount,
            amount if state == "refunded" else 0, currency, category, assignee, attempt, escalated, False,
            RETURN_ADDRESS if returns and approved_at else None,
            "SF Express" if "returning" in stamp else None,
            f"SF{cid:012d}" if "returning" in stamp else None, deadline,
            "restock" if "inspected" in stamp else None, "original" if state == "refunded" else None,
            created, first_response, approved_at, stamp.get("returning"), stamp.get("arrived"),
            stamp.get("inspected"), refunded_at, completed_at, closed_at, at))
        for line_id, quantity, line_amount in shares:
            self.lines.add((self._next("aftersales_case_lines"), cid, line_id, quantity, line_amount))
        before = None
        for to, event, actor, when in steps:
            data = {"amount": amount, "reason": reason} if event == "requested" else (
                {"amount": amount, "method": "original"} if event == "refunded" else {})
            self._event(cid, number, kind, oid, when, event, actor, before, to, data)
            if event == "requested" and escalated:
                self._event(cid, number, kind, oid, when, "escalated", actor, None, None, {"attempt": attempt})
            before = to
        if rng.random() < 0.33:
            self.messages.add((self._next("aftersales_messages"), cid, user_id, False, BUYER_TEXT, created))
            if first_response is not None:
                self.messages.add((self._next("aftersales_messages"), cid, staff_id, True, STAFF_TEXT,
                                   first_response))
        if refund is not None:
            self.refund_keys.append((f"aftersales-{cid}", refund[0]))
        self.written += 1

    def _event(self, cid, number, kind, oid, at, event, actor, before, to, data) -> None:
        actor_kind, actor_id, label = actor
        self.events.add((self._next("aftersales_events"), cid, at, event, actor_kind, actor_id, label, before, to,
                         "", data))
        self.order_events.add((self._next("order_events"), oid, at, f"aftersales_{event}", actor_kind, actor_id,
                                label, None, None, "", "aftersales", True,
                                {"case": number, "case_kind": kind, "status": to or "", **data}))

    def _relabel_refunds(self) -> None:
        """The refund rows the cases paid carry the case's key, as ``actions.refund`` writes them."""
        if not self.refund_keys:
            return
        mark = "%s" if self.w.is_pg else "?"
        cursor = self.w.conn.cursor()
        try:
            if not self.w.is_pg and not self.w.conn.driver_connection.in_transaction:
                cursor.execute("BEGIN")  # one transaction, not one per row (pysqlite autocommits)
            cursor.executemany(f"UPDATE refunds SET idempotency_key = {mark} WHERE id = {mark}", self.refund_keys)
        finally:
            cursor.close()
        self.refund_keys = []


def _dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def staff_of(writer: BulkWriter) -> list[tuple]:
    cursor = writer.conn.cursor()
    try:
        cursor.execute("SELECT id, email FROM users WHERE role IN ('owner', 'staff') ORDER BY id")
        return [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()


def add_cases(writer: BulkWriter, rng: random.Random, now: datetime, first_order_id: int, log=print) -> int:
    """Cases for the orders from ``first_order_id`` on, when the plugin's tables exist (else nothing)."""
    if not available(writer):
        return 0
    writer.commit()  # the orders and lines just written are read back, and ids are taken after them
    staff = staff_of(writer)
    if not staff:
        return 0
    written = CaseFactory(writer, rng, now, staff).run(first_order_id)
    log(f"{written} after-sales cases")
    return written


def first_order_without_cases(writer: BulkWriter) -> int:
    """For ``--aftersales-only``: the orders after the last one that already has a case."""
    cursor = writer.conn.cursor()
    try:
        cursor.execute(f"SELECT COALESCE(MAX(order_id), 0) FROM {CASES_TABLE}")
        return int(cursor.fetchone()[0]) + 1
    finally:
        cursor.close()

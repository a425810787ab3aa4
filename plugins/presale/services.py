"""Buyer side of presale: the offer, checkout checks, quota reservation, deposit and balance.

Quota and the per-buyer limit are taken with conditional UPDATEs inside the
checkout transaction (``order_placing``), so a refusal there rolls the
whole checkout back. Quota comes back exactly once per reservation
(:func:`release_order`), from the ``order_event`` hook and from a sweep.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite

from storefront.clock import utcnow
from storefront import joined_rows
from storefront.database import insert_loaded, keep_through_next_write, write_transaction
from storefront.errors import Conflict, NotFound, OutOfStock
from storefront.extensions import db
from storefront.i18n import format_money, gettext as _
from storefront.orders.models import Order, OrderLine
from storefront.orders.status import OrderStatus
from storefront.payments.services import start_order_payment
from storefront.plugins import forget_request_memo, request_memo
from storefront.plugins.types import Adjustment, Badge, Offer, Problem

from .lookup import campaign_for_sku, prefetch_campaigns
from .models import DEPOSIT, BuyerCount, Campaign, PresaleOrder, Quota, Reservation
from .times import promise_key, promise_text, ship_deadline, when_text

PLUGIN_NAME = "presale"
DEFAULT_SETTINGS = {"remind_hours_before_close": 24}


def group_key(campaign: Campaign) -> str:
    """Orders split per promise; a deposit order holds one campaign (one balance window)."""
    if campaign.mode == DEPOSIT:
        return f"presale-deposit:{campaign.id}"
    return "presale:" + promise_key(campaign.promise_kind, campaign.ship_by_date, campaign.ship_within_days)


def campaign_promise(campaign: Campaign) -> str:
    return promise_text(campaign.promise_kind, campaign.ship_by_date, campaign.ship_within_days)


def deposit_label(campaign: Campaign) -> str:
    deposit, value = format_money(campaign.deposit or 0), format_money(campaign.deposit_value or 0)
    if (campaign.deposit_value or 0) > (campaign.deposit or 0):
        return _("Deposit %(deposit)s counts as %(value)s", deposit=deposit, value=value)
    return _("Deposit %(deposit)s", deposit=deposit)


BOUGHT_MEMO = "presale.bought"


def bought_by(campaign_id: int, user_id: int | None) -> int:
    """What the buyer holds of the campaign (against its per-buyer limit). A product page asks
    for each of its SKUs (a jacket in 12 sizes and colours): read once a request, and again
    after this request took or gave back some (:func:`_take_buyer_limit`, :func:`release_order`)."""
    if user_id is None:
        return 0
    memo = request_memo(BOUGHT_MEMO)
    key = (campaign_id, user_id)
    if memo is not None and key in memo:
        return memo[key]
    bought = int(db.session.execute(select(BuyerCount.bought).where(BuyerCount.campaign_id == campaign_id,
                                                                     BuyerCount.user_id == user_id)).scalar() or 0)
    if memo is not None:
        memo[key] = bought
    return bought


@dataclass(frozen=True)
class Availability:
    remaining: int  # quota left
    left_for_buyer: int | None  # per-buyer limit left; None = no limit
    blocked: str | None

    @property
    def available(self) -> int:
        return self.remaining if self.left_for_buyer is None else min(self.remaining, self.left_for_buyer)


def availability(campaign: Campaign, quota: Quota, buyer, now: datetime) -> Availability:
    remaining = max(int(quota.quota) - int(quota.sold), 0)
    left = None
    if campaign.per_buyer_limit:
        user_id = getattr(buyer, "id", None) if getattr(buyer, "is_authenticated", False) else None
        left = max(int(campaign.per_buyer_limit) - bought_by(campaign.id, user_id), 0)
    blocked = None
    if now < campaign.starts_at:
        blocked = _("Presale opens %(when)s", when=when_text(campaign.starts_at))
    elif remaining <= 0:
        blocked = _("Presale sold out")
    elif left is not None and left <= 0:
        blocked = _("Limit reached: %(n)s per buyer", n=campaign.per_buyer_limit)
    return Availability(remaining, left, blocked)


def product_offer(product, sku, buyer) -> Offer | None:
    now = utcnow()
    loaded = product.__dict__.get("skus")  # the product page loaded them: one query for all its SKUs
    if loaded:
        prefetch_campaigns([s.id for s in loaded], now)
    found = campaign_for_sku(sku.id, now)
    if found is None:
        return None
    campaign, quota = found
    state = availability(campaign, quota, buyer, now)
    badges = [Badge(_("Presale"), kind="presale", source=PLUGIN_NAME)]
    if campaign.mode == DEPOSIT:
        badges.append(Badge(deposit_label(campaign), kind="presale", source=PLUGIN_NAME))
    return Offer(source=PLUGIN_NAME, badges=tuple(badges), price=campaign.price, available=state.available,
                 ship_promise=campaign_promise(campaign), group=group_key(campaign),
                 blocked_reason=state.blocked, own_stock=True)


def cart_adjustments(lines) -> list[Adjustment]:
    """Deposit expansion: a deposit that counts for more than it costs lowers the price by the difference."""
    result = []
    for line in lines:
        if not getattr(line, "own_stock", False):
            continue
        found = campaign_for_sku(line.sku_id)
        if found is None or found[0].mode != DEPOSIT:
            continue
        campaign = found[0]
        bonus = (int(campaign.deposit_value or 0) - int(campaign.deposit or 0)) * int(line.quantity)
        if bonus > 0:
            result.append(Adjustment(
                code=f"presale_deposit_bonus_{line.sku_id}",
                label=_("Presale deposit bonus: %(name)s", name=line.product_name),
                amount=-bonus, source=PLUGIN_NAME, lines=(line.sku_id,), order=100,
                data={"campaign_id": campaign.id}))
    return result


def validate_checkout(checkout) -> list[Problem]:
    """Window, quota and per-buyer limit, checked again at submit (the page may be old)."""
    now = utcnow()
    problems = []
    for line in checkout.lines:
        found = campaign_for_sku(line.sku_id, now)
        if found is None or line.problem:
            continue  # not presale, or the core already names the line's problem
        campaign, quota = found
        # The checkout writes the campaign as it priced it, and the quota's UPDATE checks
        # it is still open (order_placing): its write transaction need not reload them.
        keep_through_next_write(campaign, quota)
        state = availability(campaign, quota, checkout.buyer, now)
        message = None
        if state.blocked:
            message = state.blocked
        elif line.quantity > state.remaining:
            message = _("Only %(n)s left on presale", n=state.remaining)
        elif state.left_for_buyer is not None and line.quantity > state.left_for_buyer:
            message = _("At most %(n)s per buyer", n=campaign.per_buyer_limit)
        if message:
            problems.append(Problem("presale_unavailable", _("%(name)s: %(problem)s", name=line.product_name,
                                                             problem=message),
                                    PLUGIN_NAME, field=f"sku_{line.sku_id}"))
    return problems


def order_placing(order: Order, checkout) -> None:
    """Reserve quota and the buyer's limit for the order's presale lines; refuse forged or stale ones."""
    now = utcnow()
    lines = list(order.lines)  # a new order's lines are still in memory (ordered by id)
    taken: list[tuple[OrderLine, Campaign, Quota]] = []
    plain = 0
    for line in lines:
        own = bool((line.data or {}).get("no_stock_release"))
        # The campaign as this checkout priced it (the request's memo); that it is still
        # open when the quota is taken is part of the quota's conditional UPDATE.
        found = campaign_for_sku(line.sku_id, now) if line.sku_id else None
        if found is None:
            if own:
                raise Conflict(_("The presale of %(name)s has ended.", name=line.product_name),
                               code="presale_closed")
            plain += 1
            continue
        campaign, quota = found
        if not own:
            raise Conflict(_("%(name)s is now on presale; please review your cart.", name=line.product_name),
                           code="presale_changed")
        if not _is_open(campaign, now):
            raise Conflict(_("The presale of %(name)s is not open.", name=line.product_name), code="presale_closed")
        taken.append((line, campaign, quota))
    if not taken:
        return
    if plain or len({group_key(c) for _l, c, _q in taken}) > 1:
        raise Conflict(_("Presale items ship separately; please submit your order again."), code="presale_split")
    # In quota-row order, whatever the cart's: two checkouts of {A, B} and {B, A} would each
    # hold one quota row and wait for the other's (PostgreSQL then aborts one).
    for line, campaign, quota in sorted(taken, key=lambda item: item[2].id):
        _take_quota(line, campaign, quota, now)
        if campaign.per_buyer_limit:
            _take_buyer_limit(campaign, order.user_id, line.quantity)
    first = taken[0][1]
    # Core INSERTs (the checkout holds the write lock meanwhile); the record is kept as an
    # object for the hooks that follow in this transaction (payment_due, notifications).
    (record,) = insert_loaded(PresaleOrder, dict(
        order_id=order.id, campaign_id=first.id, mode=first.mode, promise_kind=first.promise_kind,
        ship_by_date=first.ship_by_date, ship_within_days=first.ship_within_days,
        deposit_total=sum(int(c.deposit or 0) * line.quantity for line, c, _q in taken if c.mode == DEPOSIT),
        deposit_value_total=sum(int(c.deposit_value or 0) * line.quantity for line, c, _q in taken
                                if c.mode == DEPOSIT),
        balance_opens_at=first.balance_opens_at, balance_closes_at=first.balance_closes_at,
        return_deposit=bool(first.return_deposit), created_at=now))
    db.session.info.setdefault("presale_orders", {})[order.id] = record
    db.session.connection().execute(_RESERVATIONS_INSERT, [
        dict(presale_order_id=record.id, order_id=order.id, line_id=line.id, quota_id=quota.id,
             campaign_id=campaign.id, user_id=order.user_id, quantity=line.quantity, created_at=now,
             released_at=None)
        for line, campaign, quota in taken])


# Built once: they run inside the checkout's write transaction, which every other writer waits for.
_RESERVATIONS_INSERT = insert(Reservation.__table__)
_TAKE_QUOTA = text("UPDATE presale_quotas SET sold = sold + :q WHERE id = :id AND sold + :q <= quota "
                   "AND EXISTS (SELECT 1 FROM presale_campaigns WHERE presale_campaigns.id = :c "
                   "AND presale_campaigns.active = :on AND presale_campaigns.starts_at <= :now "
                   "AND presale_campaigns.ends_at > :now)"
                   ).bindparams(bindparam("now", type_=Campaign.__table__.c.starts_at.type))
_TAKE_BUYER_LIMIT = text("UPDATE presale_buyer_counts SET bought = bought + :q "
                         "WHERE campaign_id = :c AND user_id = :u AND bought + :q <= :limit")


@functools.cache
def _record_of_order():
    return select(PresaleOrder).where(PresaleOrder.order_id == bindparam("order_id"))


def _is_open(campaign: Campaign, now) -> bool:
    """Open for orders at ``now``: the window ``_TAKE_QUOTA`` checks in the database."""
    return campaign.starts_at <= now < campaign.ends_at


def _take_quota(line: OrderLine, campaign: Campaign, quota: Quota, now) -> None:
    won = db.session.execute(_TAKE_QUOTA, {"q": line.quantity, "id": quota.id, "c": campaign.id, "on": True,
                                           "now": now}).rowcount
    if won == 1:
        return
    # Refused: sold out, or staff ended or switched off the campaign since it was priced.
    current = campaign_for_sku(line.sku_id, now, fresh=True)
    if current is None or current[0].id != campaign.id or not _is_open(current[0], now):
        raise Conflict(_("The presale of %(name)s has ended.", name=line.product_name), code="presale_closed")
    raise OutOfStock(_("Presale sold out: %(name)s", name=line.product_name),
                     code="presale_sold_out", details={"sku_id": line.sku_id})


def _take_buyer_limit(campaign: Campaign, user_id: int, quantity: int) -> None:
    forget_request_memo(BOUGHT_MEMO)
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(BuyerCount).values(campaign_id=campaign.id, user_id=user_id, bought=0)
                       .on_conflict_do_nothing(index_elements=["campaign_id", "user_id"]))
    won = db.session.execute(
        _TAKE_BUYER_LIMIT, {"q": quantity, "c": campaign.id, "u": user_id, "limit": int(campaign.per_buyer_limit)}
    ).rowcount
    if won != 1:
        raise Conflict(_("At most %(n)s per buyer on this presale.", n=campaign.per_buyer_limit),
                       code="presale_limit")


def payment_due(order: Order) -> int | None:
    """A deposit order's checkout payment charges the deposit only."""
    record = presale_order(order.id)
    if record is None or record.mode != DEPOSIT:
        return None
    due = int(record.deposit_total)
    return due if 0 < due < int(order.total) else None


def presale_order(order_id: int) -> PresaleOrder | None:
    # Several hooks ask for the same order's record within one transaction
    # (order_placing then payment_due; ship_promise then notification_lines):
    # a record loaded or written in the current transaction is still fresh
    # (the commit expires it), so it is answered without a round trip.
    known = db.session.info.setdefault("presale_orders", {})
    record = known.get(order_id)
    if record is not None:
        state = inspect(record)
        if state.persistent and not state.expired_attributes and record.order_id == order_id:
            return record
    record = joined_rows.one_or_none(_record_of_order(), {"order_id": order_id})
    if record is not None:
        known[order_id] = record
    return record


def release_order(order_id: int, now: datetime | None = None) -> int:
    """Give a closed order's quota (and buyer limit) back, exactly once per reservation."""
    now = now or utcnow()
    released = 0
    # Read without the write lock: most closed orders held no quota, and then nothing is
    # locked (SQLite's lock is the whole database's). A closed order stays closed and its
    # reservations were written with it, so what this read finds holds inside the write;
    # the conditional UPDATE on released_at stays the one door (two workers, one release).
    rows = db.session.execute(
        select(Reservation.id, Reservation.quota_id, Reservation.quantity, Reservation.user_id,
               Reservation.campaign_id)
        .join(Order, Order.id == Reservation.order_id)
        .where(Reservation.order_id == order_id, Reservation.released_at.is_(None),
               Order.status == OrderStatus.CLOSED)).all()
    if not rows:
        return 0
    with write_transaction():
        for row in rows:
            won = db.session.execute(
                text("UPDATE presale_reservations SET released_at = :now WHERE id = :id AND released_at IS NULL"),
                {"now": now, "id": row.id}).rowcount
            if won != 1:
                continue  # another worker gave it back
            db.session.execute(text("UPDATE presale_quotas SET sold = sold - :q WHERE id = :id"),
                               {"q": row.quantity, "id": row.quota_id})
            if row.user_id is not None:
                forget_request_memo(BOUGHT_MEMO)
                db.session.execute(
                    text("UPDATE presale_buyer_counts SET bought = bought - :q "
                         "WHERE campaign_id = :c AND user_id = :u AND bought >= :q"),
                    {"q": row.quantity, "c": row.campaign_id, "u": row.user_id})
            released += row.quantity
    return released


# -- deposit and balance ------------------------------------------------------------------
@dataclass(frozen=True)
class Balance:
    """Where a deposit order stands, for the order page, the API and notifications."""

    record: PresaleOrder
    deposit: int
    deposit_paid: bool
    balance: int  # still to pay (the deposit value already deducted from the total)
    opens_at: datetime | None
    closes_at: datetime | None
    state: str  # deposit_due | waiting | open | closed | paid | order_closed

    @property
    def payable(self) -> bool:
        return self.state == "open"


def balance_of(order: Order, now: datetime | None = None) -> Balance | None:
    record = presale_order(order.id)
    if record is None or record.mode != DEPOSIT:
        return None
    now = now or utcnow()
    status = OrderStatus(order.status)
    paid = int(order.paid_total or 0)
    if status == OrderStatus.CLOSED:
        state = "order_closed"
    elif status != OrderStatus.PENDING_PAYMENT:
        state = "paid"
    elif paid <= 0:
        state = "deposit_due"
    elif record.balance_opens_at and now < record.balance_opens_at:
        state = "waiting"
    elif record.balance_closes_at and now >= record.balance_closes_at:
        state = "closed"
    else:
        state = "open"
    return Balance(record, int(record.deposit_total), paid > 0, max(int(order.total) - paid, 0),
                   record.balance_opens_at, record.balance_closes_at, state)


def start_balance(order: Order, user, idempotency_key: str, now: datetime | None = None):
    """Start the balance payment of the buyer's deposit order (only while its window is open)."""
    if user is None or not getattr(user, "is_authenticated", False) or order.user_id != user.id:
        raise NotFound(_("Order not found."))
    info = balance_of(order, now)
    if info is None:
        raise NotFound(_("This order has no balance to pay."))
    if info.state == "deposit_due":
        raise Conflict(_("Pay the deposit first."), code="deposit_unpaid")
    if info.state == "waiting":
        raise Conflict(_("The balance can be paid from %(when)s.", when=when_text(info.opens_at)),
                       code="balance_not_open")
    if info.state != "open":
        raise Conflict(_("The balance can no longer be paid."), code="balance_closed")
    return start_order_payment(order, info.balance, user, idempotency_key)


def order_ship_by(order: Order, paid_at: datetime) -> datetime | None:
    record = presale_order(order.id)
    if record is None:
        return None
    return ship_deadline(record.promise_kind, record.ship_by_date, record.ship_within_days, paid_at)


def order_promise(record: PresaleOrder) -> str:
    return promise_text(record.promise_kind, record.ship_by_date, record.ship_within_days)


def balance_deadline_on_order(order_id: int) -> None:
    """Once the deposit is in, the order's payment deadline is the balance window's end (shown to the buyer)."""
    record = presale_order(order_id)
    if record is None or record.mode != DEPOSIT or record.balance_closes_at is None:
        return
    # As read: inside, the opening commit's expiry would reload the record under the write
    # lock, once per deposit paid -- and deposits are paid in a rush.
    closes = record.balance_closes_at
    with write_transaction():
        db.session.execute(
            text("UPDATE orders SET pay_deadline = :closes WHERE id = :id AND status = :pending AND paid_total > 0"),
            {"closes": closes, "id": order_id, "pending": OrderStatus.PENDING_PAYMENT.value})

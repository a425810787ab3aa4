"""Read side of orders: buyer and staff lists (keyset) and single-order loads.

Lists never COUNT the whole table: they fetch ``limit + 1`` rows ordered by
id descending and hand back the id to continue after.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, or_, select

from .. import joined_rows
from ..accounts.models import User
from ..clock import shop_zone, utcnow
from ..errors import NotFound
from ..extensions import db
from ..i18n import gettext as _
from ..models_base import MAX_ROW_ID
from .models import Order
from .status import OrderStatus

MAX_LIMIT = 100


@dataclass(frozen=True)
class StaffOrderFilters:
    status: OrderStatus | None = None
    date_from: date | None = None  # shop-local calendar dates, inclusive
    date_to: date | None = None
    q: str = ""  # order number (exact or prefix) or the ship-to phone
    overdue_to_ship: bool = False


def _clamp(limit: int | None) -> int:
    return max(1, min(int(limit or 20), MAX_LIMIT))


def _below(after_id: int | None) -> int | None:
    """The keyset bound ``id < after_id``, or None when it bounds nothing: an ``after`` past
    the id columns' range (which the database driver refuses: a 500) is above every order."""
    if not after_id:
        return None
    after_id = int(after_id)
    return None if after_id > MAX_ROW_ID else after_id


#: The collections an order page shows (timeline, notes, breakdown), each read as its
#: relationship orders it.
FULL_COLLECTIONS = ("lines", "adjustments", "events", "notes")
_ORDER_ROWS = joined_rows.JoinedEntities(Order, User)


def buyer_orders(user, status: OrderStatus | str | None = None, after_id: int | None = None,
                 limit: int = 20) -> tuple[list[Order], int | None]:
    """The buyer's orders, newest first, with their lines: ``(orders, next_after_id)``.

    Read in Core (statements built once per shape, :mod:`storefront.joined_rows`): the
    ORM's loading of a page of twenty orders and their lines cost more than half of
    the buyer's order list."""
    limit = _clamp(limit)
    params = {"user_id": user.id, "limit": limit + 1}
    if status:
        params["status"] = OrderStatus(status)
    after_id = _below(after_id)
    if after_id is not None:
        params["after_id"] = after_id
    rows = joined_rows.scalars(_buyer_page_query(bool(status), after_id is not None), params)
    next_after = rows[limit - 1].id if len(rows) > limit else None
    page = rows[:limit]
    joined_rows.load_collection(page, Order.lines)
    return page, next_after


@functools.cache
def _buyer_page_query(by_status: bool, after: bool):
    stmt = select(Order).where(Order.user_id == bindparam("user_id"))
    if by_status:
        stmt = stmt.where(Order.status == bindparam("status"))
    if after:
        stmt = stmt.where(Order.id < bindparam("after_id"))
    return stmt.order_by(Order.id.desc()).limit(bindparam("limit"))


def _local_midnight_utc(day: date) -> datetime:
    # Staff think in shop-local days; the database holds naive UTC.
    tz = shop_zone()
    local = datetime.combine(day, time.min, tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


DENSE_PREFIX_MATCHES = 2000


def _glob_prefix(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text) + "*"


def _number_starts_with(text: str):
    """An order-number prefix match that uses the number index on both databases.

    SQLite's LIKE is case-insensitive, so it never uses a plain index and the
    staff search scanned every order (0.4 s at 1 M orders); its GLOB is
    case-sensitive and does. PostgreSQL's LIKE uses the ``varchar_pattern_ops``
    index.
    """
    if db.session.get_bind().dialect.name != "sqlite":
        return Order.number.like(_like_prefix(text), escape="\\")
    pattern = _glob_prefix(text)
    # The index range suits a rare prefix. For a common one ("202611", a month of
    # orders) SQLite would fetch and sort every match (seconds at 1 M orders), so
    # the match then hides from the index (``|| ''``) and SQLite walks the newest
    # orders, stopping at the page's end -- soon, since matches are dense.
    probe = select(func.count()).select_from(
        select(Order.id).where(Order.number.op("GLOB")(pattern)).limit(DENSE_PREFIX_MATCHES).subquery())
    if db.session.execute(probe).scalar_one() >= DENSE_PREFIX_MATCHES:
        return (Order.number + "").op("GLOB")(pattern)
    return Order.number.op("GLOB")(pattern)


def search_condition(q: str):
    """What the staff search box matches: the order number, its prefix, or the phone."""
    return or_(Order.number == q, _number_starts_with(q), Order.ship_phone == q)


def staff_orders(filters: StaffOrderFilters | dict | None = None, after_id: int | None = None,
                 limit: int = 50) -> tuple[list[Order], int | None]:
    """Orders for the admin list, newest first, filtered; ``(orders, next_after_id)``.

    Each filter maps onto an index of ``Order.__table_args__``: status (+id),
    placed_at, number (unique), ship_phone, and (status, ship_by) for overdue.
    """
    if isinstance(filters, dict):
        filters = StaffOrderFilters(**filters)
    filters = filters or StaffOrderFilters()
    limit = _clamp(limit)
    # Each order with its buyer, read in Core as a joined load would read them (the same
    # LEFT JOIN): the ORM's loading of fifty orders, their lines and notes was the larger
    # part of the page.
    stmt = _orders_with_buyers()
    if filters.overdue_to_ship:
        stmt = stmt.where(Order.status == OrderStatus.PAID, Order.ship_by < utcnow())
    elif filters.status:
        stmt = stmt.where(Order.status == OrderStatus(filters.status))
    if filters.date_from:
        stmt = stmt.where(Order.placed_at >= _local_midnight_utc(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(Order.placed_at < _local_midnight_utc(filters.date_to + timedelta(days=1)))
    q = (filters.q or "").strip()
    if q:
        stmt = stmt.where(search_condition(q))
    after_id = _below(after_id)
    if after_id is not None:
        stmt = stmt.where(Order.id < after_id)
    session = db.session()
    rows = joined_rows.read(session, stmt.order_by(Order.id.desc()).limit(limit + 1), {})
    page = [_order_and_buyer(session, row) for row in rows[:limit]]
    next_after = page[-1].id if len(rows) > limit else None
    # Notes come along for the flags shown in the list.
    joined_rows.load_collection(page, Order.lines)
    joined_rows.load_collection(page, Order.notes)
    return page, next_after


@functools.cache
def _order_query(of_buyer: bool):
    # The order with its buyer (staff pages show them; a buyer's is the signed-in user),
    # built once per process. Read in Core (storefront.joined_rows): with the collections'
    # selectin loads, the ORM's loading cost a third of a buyer's order page.
    stmt = _orders_with_buyers().where(Order.number == bindparam("number"))
    return stmt.where(Order.user_id == bindparam("user_id")) if of_buyer else stmt


def _orders_with_buyers():
    """Orders with their buyers' columns, the LEFT JOIN a joined load of ``Order.user`` sends."""
    order, user = Order.__table__, User.__table__
    return select(*_ORDER_ROWS.columns).select_from(order.outerjoin(user, user.c.id == order.c.user_id))


def _order_and_buyer(session, row) -> Order:
    order, user = _ORDER_ROWS.objects(session, row)
    joined_rows.link(order, "user", user)
    return order


def order_with(number: str, collections=FULL_COLLECTIONS, user_id: int | None = None) -> Order | None:
    """The order ``number`` (only if ``user_id``'s, when given) with its buyer and
    ``collections`` loaded, as joined and selectin loads would have loaded them: a
    collection this session already holds loaded is kept. Six statements at most."""
    session = db.session()
    params = {"number": str(number)}
    if user_id is not None:
        params["user_id"] = user_id
    rows = joined_rows.read(session, _order_query(user_id is not None), params)
    if not rows:
        return None
    order = _order_and_buyer(session, rows[0])
    for key in collections:
        joined_rows.load_collection([order], getattr(Order, key))
    return order


def get_order_by_number(number: str) -> Order:
    """Any order by number, with lines, adjustments, timeline and notes (staff)."""
    order = order_with(number)
    if order is None:
        raise NotFound(_("Order not found."))
    return order


def get_order(order_id: int) -> Order:
    order = db.session.get(Order, int(order_id))
    if order is None:
        raise NotFound(_("Order not found."))
    return order


def get_buyer_order(user, number: str) -> Order:
    """The buyer's own order; another buyer's order is simply "not found"."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotFound(_("Order not found."))
    order = order_with(number, user_id=user.id)
    if order is None:
        raise NotFound(_("Order not found."))
    return order


def public_events(order: Order) -> list:
    return [e for e in order.events if e.public]


def buyer_notes(order: Order) -> list:
    return [n for n in order.notes if not n.is_staff]


def staff_flags(order: Order) -> list:
    """The distinct flags of an order's staff notes, newest first (for the admin list)."""
    flags = []
    for note in reversed(order.notes):
        if note.is_staff and note.flag.value != "none" and note.flag not in flags:
            flags.append(note.flag)
    return flags

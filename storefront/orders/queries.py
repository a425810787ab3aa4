"""Read side of orders: buyer and staff lists (keyset) and single-order loads.

Lists never COUNT the whole table: they fetch ``limit + 1`` rows ordered by
id descending and hand back the id to continue after.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, inspect, or_, select
from sqlalchemy.orm import joinedload, selectinload

from .. import joined_rows
from ..accounts.models import User
from ..clock import shop_zone, utcnow
from ..errors import NotFound
from ..extensions import db
from ..i18n import gettext as _
from .models import Order, OrderLine
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


def _page(stmt, after_id: int | None, limit: int) -> tuple[list[Order], int | None]:
    if after_id:
        stmt = stmt.where(Order.id < int(after_id))
    rows = list(db.session.execute(stmt.order_by(Order.id.desc()).limit(limit + 1)).scalars())
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


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
    if after_id:
        params["after_id"] = int(after_id)
    rows = joined_rows.scalars(_buyer_page_query(bool(status), bool(after_id)), params)
    next_after = rows[limit - 1].id if len(rows) > limit else None
    page = rows[:limit]
    _link_lines(page)
    return page, next_after


@functools.cache
def _buyer_page_query(by_status: bool, after: bool):
    stmt = select(Order).where(Order.user_id == bindparam("user_id"))
    if by_status:
        stmt = stmt.where(Order.status == bindparam("status"))
    if after:
        stmt = stmt.where(Order.id < bindparam("after_id"))
    return stmt.order_by(Order.id.desc()).limit(bindparam("limit"))


@functools.cache
def _lines_of_orders_query():
    return (select(OrderLine).where(OrderLine.order_id.in_(bindparam("order_ids", expanding=True)))
            .order_by(OrderLine.order_id, OrderLine.id))


def _link_lines(orders: list[Order]) -> None:
    """Each order's ``lines`` loaded, in one statement for all, as a selectin load would:
    an order whose lines this session already holds keeps them."""
    wanting = {order.id: [] for order in orders if "lines" not in order.__dict__}
    if not wanting:
        return
    for line in joined_rows.scalars(_lines_of_orders_query(), {"order_ids": list(wanting)}):
        wanting[line.order_id].append(line)
    for order in orders:
        if order.id in wanting:
            joined_rows.link(order, "lines", wanting[order.id])


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
    # Notes come along for the flags shown in the list.
    stmt = select(Order).options(selectinload(Order.lines), selectinload(Order.notes), joinedload(Order.user))
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
    return _page(stmt, after_id, limit)


#: The collections an order page shows (timeline, notes, breakdown), each read as its
#: relationship orders it.
FULL_COLLECTIONS = ("lines", "adjustments", "events", "notes")
_ORDER_ROWS = joined_rows.JoinedEntities(Order, User)


@functools.cache
def _order_query(of_buyer: bool):
    # The order with its buyer (staff pages show them; a buyer's is the signed-in user),
    # built once per process. Read in Core (storefront.joined_rows): with the collections'
    # selectin loads, the ORM's loading cost a third of a buyer's order page.
    order, user = Order.__table__, User.__table__
    stmt = (select(*_ORDER_ROWS.columns).select_from(order.outerjoin(user, user.c.id == order.c.user_id))
            .where(order.c.number == bindparam("number")))
    return stmt.where(order.c.user_id == bindparam("user_id")) if of_buyer else stmt


@functools.cache
def _collection_query(key: str):
    relationship = inspect(Order).relationships[key]
    child = relationship.mapper.class_
    return select(child).where(child.order_id == bindparam("order_id")).order_by(*(relationship.order_by or ()))


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
    order, user = _ORDER_ROWS.objects(session, rows[0])
    joined_rows.link(order, "user", user)
    for key in collections:
        if key not in order.__dict__:
            joined_rows.link(order, key, joined_rows.scalars(_collection_query(key), {"order_id": order.id}))
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

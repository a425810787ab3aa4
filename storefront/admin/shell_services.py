"""Services behind the admin shell: dashboard figures, plugin state, shop settings, audit log.

Views in dashboard.py / plugins.py / settings.py / audit.py parse and render;
everything that reads figures or writes state lives here so the JSON API or
a CLI command can call the same functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, g
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..audit.models import AuditEntry
from ..audit.services import record
from ..catalog.models import Sku
from ..clock import shop_zone, utcnow
from ..database import write_transaction
from ..errors import ConcurrentUpdate, NotFound
from ..extensions import db
from ..notify.delivery import LATE_COUNT_CAP, alert_counts
from ..orders.models import Order
from ..orders.status import OrderStatus
from ..plugins.host import get_host
from ..settings import all_settings, set_settings
from ..settings_models import PluginState

RECENT_ORDERS = 10
LOW_STOCK_ROWS = 10


# Dashboard ------------------------------------------------------------------

@dataclass(frozen=True)
class DashboardSummary:
    to_ship: int
    overdue: int
    awaiting_payment: int
    today_orders: int
    today_revenue: int
    currency: str
    recent: list
    low_stock: list
    today: date  # the shop's local date the "today" figures refer to
    failed_notifications: int = 0
    late_notifications: int = 0  # due over LATE_AFTER; LATE_COUNT_CAP + 1 means "more than the cap"

    @property
    def late_notifications_shown(self) -> str:
        return f"{LATE_COUNT_CAP}+" if self.late_notifications > LATE_COUNT_CAP else str(self.late_notifications)


def local_day_start(now: datetime) -> datetime:
    """Midnight of ``now``'s day in the shop's time zone, as naive UTC."""
    tz = shop_zone()
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    midnight = datetime.combine(local.date(), time.min, tzinfo=tz)
    return midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _local_date(now: datetime) -> date:
    tz = shop_zone()
    return now.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).date()


def _count(*conditions) -> int:
    return db.session.execute(select(func.count()).select_from(Order).where(*conditions)).scalar_one()


def dashboard_summary(now: datetime | None = None) -> DashboardSummary:
    """The dashboard's figures: a handful of indexed counts, no per-row Python."""
    now = now or utcnow()
    day_start = local_day_start(now)
    # Revenue counts orders placed today that were paid and not closed since.
    today_orders, today_revenue = db.session.execute(
        select(func.count(),
               func.coalesce(func.sum(Order.total).filter(
                   Order.status.in_((OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED))), 0))
        .where(Order.placed_at >= day_start)
    ).one()
    recent = db.session.execute(
        select(Order).order_by(Order.id.desc()).limit(RECENT_ORDERS)
    ).scalars().all()
    low_stock = db.session.execute(
        select(Sku).options(joinedload(Sku.product))
        .where(Sku.active.is_(True), Sku.stock <= Sku.low_stock_threshold)
        .order_by(Sku.stock, Sku.id).limit(LOW_STOCK_ROWS)
    ).scalars().all()
    failed_notifications, late_notifications = alert_counts(now)
    return DashboardSummary(
        to_ship=_count(Order.status == OrderStatus.PAID),
        overdue=_count(Order.status == OrderStatus.PAID, Order.ship_by < now),
        awaiting_payment=_count(Order.status == OrderStatus.PENDING_PAYMENT),
        today_orders=int(today_orders),
        today_revenue=int(today_revenue or 0),
        currency=current_app.config["STOREFRONT_CURRENCY"],
        recent=list(recent),
        low_stock=list(low_stock),
        today=_local_date(now),
        failed_notifications=failed_notifications,
        late_notifications=late_notifications,
    )


# Dashboard charts -----------------------------------------------------------

CHART_DAYS = 30        # sales chart: the last 30 shop days, today included
SHIP_CHART_DAYS = 14   # orders to ship: overdue, the next 14 days, later
REVENUE_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED)


@dataclass(frozen=True)
class SalesDay:
    day: date
    orders: int
    paid: int  # minor units of the shop currency


@dataclass(frozen=True)
class ShipBucket:
    key: str           # "overdue", an ISO date, or "later"
    day: date | None   # the shop day of the ship-by deadline (None for overdue / later)
    orders: int


def _local_midnights(first: date, count: int) -> list[datetime]:
    """``count + 1`` day boundaries from ``first`` as naive UTC, correct across DST changes."""
    tz = shop_zone()
    utc = ZoneInfo("UTC")
    return [datetime.combine(first + timedelta(days=i), time.min, tzinfo=tz).astimezone(utc).replace(tzinfo=None)
            for i in range(count + 1)]


def _day_bucket(column, bounds: list[datetime]):
    """SQL ``CASE`` giving the index of the shop day ``column`` falls in.

    The day boundaries are computed in Python (time-zone and DST aware) and
    the database only compares timestamps, so one indexed range scan groups
    the rows the same way on SQLite and PostgreSQL.
    """
    return case(*[(column < bounds[i + 1], i) for i in range(len(bounds) - 1)], else_=len(bounds) - 1)


def sales_per_day(now: datetime | None = None, days: int = CHART_DAYS, *,
                  cache_seconds: float = 0) -> list[SalesDay]:
    """Orders placed and paid amount per shop day, oldest first, every day present.

    Same definition as the dashboard's "Today's revenue": orders placed that
    day that were paid and not closed since. One aggregate over the
    ``placed_at`` index, bounded to ``days``. With ``cache_seconds`` the past
    days come from a per-process cache (refreshed after that many seconds)
    and only today is read live.
    """
    now = now or utcnow()
    today = _local_date(now)
    first = today - timedelta(days=days - 1)
    if cache_seconds <= 0 or days < 2:
        return _sales_days(first, days)
    key = (str(db.engine.url), first, days - 1, str(shop_zone()))
    hit = _past_sales.get(key)
    if hit is None or hit[0] <= monotonic():
        hit = (monotonic() + cache_seconds, _sales_days(first, days - 1))
        _past_sales.clear()  # one entry per process: yesterday's key is dead
        _past_sales[key] = hit
    return hit[1] + _sales_days(today, 1)


_past_sales: dict[tuple, tuple[float, list[SalesDay]]] = {}


def _sales_days(first: date, days: int) -> list[SalesDay]:
    bounds = _local_midnights(first, days)
    inner = (select(_day_bucket(Order.placed_at, bounds).label("d"), Order.total.label("total"))
             .where(Order.placed_at >= bounds[0], Order.placed_at < bounds[-1],
                    Order.status.in_(REVENUE_STATUSES))
             .subquery())
    rows = db.session.execute(
        select(inner.c.d, func.count(), func.coalesce(func.sum(inner.c.total), 0)).group_by(inner.c.d)
    ).all()
    found = {int(d): (int(n), int(total)) for d, n, total in rows}
    return [SalesDay(first + timedelta(days=i), *found.get(i, (0, 0))) for i in range(days)]


def orders_to_ship(now: datetime | None = None, days: int = SHIP_CHART_DAYS) -> list[ShipBucket]:
    """Paid orders awaiting shipment by ship-by deadline: overdue, per shop day, later.

    "Overdue" is everything whose deadline has passed (also earlier today);
    one aggregate over the ``(status, ship_by)`` index.
    """
    now = now or utcnow()
    today = _local_date(now)
    bounds = _local_midnights(today, days)
    # Index 0: overdue; 1..days: the shop days from today; days + 1: later or no deadline.
    bucket = case((Order.ship_by.is_(None), days + 1), (Order.ship_by < now, 0),
                  *[(Order.ship_by < bounds[i + 1], i + 1) for i in range(days)], else_=days + 1)
    inner = select(bucket.label("b")).where(Order.status == OrderStatus.PAID).subquery()
    found = {int(b): int(n) for b, n in db.session.execute(
        select(inner.c.b, func.count()).group_by(inner.c.b)).all()}
    buckets = [ShipBucket("overdue", None, found.get(0, 0))]
    buckets += [ShipBucket((today + timedelta(days=i)).isoformat(), today + timedelta(days=i), found.get(i + 1, 0))
                for i in range(days)]
    buckets.append(ShipBucket("later", None, found.get(days + 1, 0)))
    return buckets


# Plugins --------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    """Form data into JSON column values (DecimalField, DateField...)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _plugin_snapshot(name: str) -> dict[str, Any]:
    host = get_host()
    return {"enabled": host.is_enabled(name), "settings": host.settings(name)}


def _write_plugin_state(name: str, **values: Any) -> None:
    """Update the plugin's row (bumping ``version``) or create it."""
    result = db.session.execute(
        update(PluginState).where(PluginState.name == name)
        .values(version=PluginState.version + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        return
    manifest = get_host().plugins[name]
    row = PluginState(name=name, enabled=values.get("enabled", manifest.enabled_by_default),
                      settings=values.get("settings", {}), version=1)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError as exc:  # another owner created it at the same moment
        raise ConcurrentUpdate("The plugin changed meanwhile; please try again.") from exc


def _require_plugin(name: str):
    host = get_host()
    if name not in host.plugins:
        raise NotFound(f"No installed plugin is called {name!r}.")
    return host


def set_plugin_enabled(name: str, enabled: bool, *, actor) -> None:
    """Switch an installed plugin on or off for every worker's next request (audited)."""
    host = _require_plugin(name)
    with write_transaction():
        host.forget_states()
        before = _plugin_snapshot(name)
        _write_plugin_state(name, enabled=bool(enabled))
        host.forget_states()
        after = {**before, "enabled": bool(enabled)}
        record(actor, "plugin.enable" if enabled else "plugin.disable", object_type="plugin",
               object_id=name, before=before, after=after)
    host.forget_states()


def save_plugin_settings(name: str, data: dict[str, Any], *, actor) -> dict[str, Any]:
    """Store a plugin's validated settings (from its ``settings_form``); audited."""
    host = _require_plugin(name)
    manifest = host.plugins[name]
    clean = {k: _jsonable(v) for k, v in data.items() if k not in ("csrf_token", "submit")}
    settings = {**manifest.default_settings, **clean}
    with write_transaction():
        host.forget_states()
        before = _plugin_snapshot(name)
        _write_plugin_state(name, settings=settings)
        record(actor, "plugin.settings", object_type="plugin", object_id=name,
               before=before, after={**before, "settings": settings})
    host.forget_states()
    return settings


# Shop settings ------------------------------------------------------------

def save_shop_settings(changes: dict[str, Any], *, actor) -> dict[str, Any]:
    """Write validated shop settings; the audit row keeps only what changed."""
    with write_transaction():
        g.pop("_shop_settings", None)  # compare with what is stored now, not this request's copy
        current = all_settings()
        changed = {k: v for k, v in changes.items() if current.get(k) != v}
        if changed:
            before = {k: current.get(k) for k in changed}
            set_settings(changed)
            record(actor, "settings.update", object_type="settings", object_id="shop",
                   before=before, after=changed)
    return changed


# Audit log ----------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


def audit_page(*, action: str = "", actor: str = "", after: int | None = None,
               limit: int = AUDIT_PAGE_SIZE) -> tuple[list[AuditEntry], int | None]:
    """Audit entries newest first, keyset-paginated by id; ``(rows, next after or None)``."""
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor_label == actor)
    if after:
        query = query.where(AuditEntry.id < after)
    rows = db.session.execute(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).scalars().all()
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return list(rows[:limit]), next_after


def audit_actions() -> list[str]:
    """Distinct actions for the filter menu."""
    return list(db.session.execute(
        select(AuditEntry.action).distinct().order_by(AuditEntry.action)
    ).scalars())

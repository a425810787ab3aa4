"""Seller side: create and edit presale campaigns, set and raise quotas, the presale list.

The admin pages, the staff API and the demo seeder call these functions.
Datetimes are naive UTC here (the admin form converts from shop time).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import joinedload, selectinload

from storefront.audit.services import record as audit
from storefront.catalog.models import Product
from storefront.clock import utcnow
from storefront.database import lock_row, write_transaction
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus

from .models import BY_DATE, DEPOSIT, FULL, MODES, PROMISE_KINDS, Campaign, PresaleOrder, Quota

FIELDS = ("product_id", "mode", "starts_at", "ends_at", "promise_kind", "ship_by_date", "ship_within_days",
          "price", "per_buyer_limit", "deposit", "deposit_value", "balance_opens_at", "balance_closes_at",
          "return_deposit", "active")
MAX_QUOTA = 1_000_000
MAX_DAYS = 365


def _int(value, field: str, *, minimum: int = 0, maximum: int = 10**10, optional: bool = True) -> int | None:
    if value is None or value == "":
        if optional:
            return None
        raise ValidationFailed(_("This field is required."), field=field)
    if isinstance(value, bool):
        raise ValidationFailed(_("Enter a whole number."), field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Enter a whole number."), field=field) from None
    if not minimum <= number <= maximum:
        raise ValidationFailed(_("Enter a number from %(a)s to %(b)s.", a=minimum, b=maximum), field=field)
    return number


def _datetime(value, field: str, *, optional: bool = False) -> datetime | None:
    if value in (None, ""):
        if optional:
            return None
        raise ValidationFailed(_("This field is required."), field=field)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(_("Enter a date and time."), field=field) from None
    if not isinstance(value, datetime):
        raise ValidationFailed(_("Enter a date and time."), field=field)
    if value.tzinfo is not None:
        from datetime import timezone

        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _date(value, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationFailed(_("Enter a date (2026-12-05)."), field=field) from None


def clean_campaign(data: dict) -> tuple[dict, dict[int, int]]:
    """Validate a campaign and its quotas ({sku id: quota}); errors name the field."""
    cleaned: dict = {}
    product = db.session.get(Product, _int(data.get("product_id"), "product_id", optional=False))
    if product is None:
        raise ValidationFailed(_("Choose a product."), field="product_id")
    cleaned["product_id"] = product.id
    mode = str(data.get("mode") or FULL)
    if mode not in MODES:
        raise ValidationFailed(_("Choose full payment or deposit."), field="mode")
    cleaned["mode"] = mode
    cleaned["starts_at"] = _datetime(data.get("starts_at"), "starts_at")
    cleaned["ends_at"] = _datetime(data.get("ends_at"), "ends_at")
    if cleaned["ends_at"] <= cleaned["starts_at"]:
        raise ValidationFailed(_("The presale must end after it starts."), field="ends_at")
    kind = str(data.get("promise_kind") or BY_DATE)
    if kind not in PROMISE_KINDS:
        raise ValidationFailed(_("Choose a ship date or a number of days."), field="promise_kind")
    cleaned["promise_kind"] = kind
    cleaned["ship_by_date"] = _date(data.get("ship_by_date"), "ship_by_date")
    cleaned["ship_within_days"] = _int(data.get("ship_within_days"), "ship_within_days", minimum=1,
                                       maximum=MAX_DAYS)
    if kind == BY_DATE:
        if cleaned["ship_by_date"] is None:
            raise ValidationFailed(_("Enter the date by which it ships."), field="ship_by_date")
        cleaned["ship_within_days"] = None
    else:
        if cleaned["ship_within_days"] is None:
            raise ValidationFailed(_("Enter within how many days of payment it ships."), field="ship_within_days")
        cleaned["ship_by_date"] = None
    cleaned["price"] = _int(data.get("price"), "price", minimum=1)
    cleaned["per_buyer_limit"] = _int(data.get("per_buyer_limit"), "per_buyer_limit", minimum=1, maximum=MAX_QUOTA)
    quotas = _clean_quotas(product, data.get("quotas"))
    if mode == DEPOSIT:
        deposit = _int(data.get("deposit"), "deposit", minimum=1, optional=False)
        value = _int(data.get("deposit_value"), "deposit_value", minimum=1)
        value = deposit if value is None else value
        if value < deposit:
            raise ValidationFailed(_("The deposit counts for at least its own amount."), field="deposit_value")
        skus = {s.id: s for s in product.skus}
        lowest = min(cleaned["price"] or skus[sku_id].price for sku_id in quotas)
        if value >= lowest:
            raise ValidationFailed(_("The deposit must count for less than the price."), field="deposit_value")
        opens = _datetime(data.get("balance_opens_at"), "balance_opens_at")
        closes = _datetime(data.get("balance_closes_at"), "balance_closes_at")
        if opens < cleaned["starts_at"]:
            raise ValidationFailed(_("The balance window cannot open before the presale starts."),
                                   field="balance_opens_at")
        if closes <= opens:
            raise ValidationFailed(_("The balance window must close after it opens."), field="balance_closes_at")
        cleaned.update(deposit=deposit, deposit_value=value, balance_opens_at=opens, balance_closes_at=closes,
                       return_deposit=bool(data.get("return_deposit")))
    else:
        cleaned.update(deposit=None, deposit_value=None, balance_opens_at=None, balance_closes_at=None,
                       return_deposit=False)
    cleaned["active"] = bool(data.get("active", True))
    return cleaned, quotas


def _clean_quotas(product: Product, raw) -> dict[int, int]:
    if not isinstance(raw, dict) or not raw:
        raise ValidationFailed(_("Give at least one variant a presale quota."), field="quotas")
    own = {s.id for s in product.skus}
    quotas: dict[int, int] = {}
    for key, value in raw.items():
        sku_id = _int(key, "quotas", optional=False)
        if sku_id not in own:
            raise ValidationFailed(_("That variant is not part of this product."), field="quotas")
        quotas[sku_id] = _int(value, "quotas", maximum=MAX_QUOTA, optional=False)
    return quotas


def _check_overlap(campaign_id: int | None, cleaned: dict, sku_ids) -> None:
    """A SKU is on at most one active presale at a time (its offer must be unambiguous)."""
    if not cleaned["active"]:
        return
    lock_row(Product, cleaned["product_id"])  # a double-clicked creation would find no overlap twice
    clash = db.session.execute(
        select(Quota.sku_id).join(Campaign, Campaign.id == Quota.campaign_id)
        .where(Quota.sku_id.in_(list(sku_ids)), Campaign.active.is_(True),
               Campaign.id != (campaign_id or 0),
               Campaign.starts_at < cleaned["ends_at"], Campaign.ends_at > cleaned["starts_at"])
        .limit(1)).scalar()
    if clash is not None:
        raise ValidationFailed(_("A variant of this product is already on another presale at that time."),
                               field="quotas")


def _forget_lookups() -> None:
    """This request's memoised campaign look-ups (services.campaign_for_sku) are stale after an edit."""
    from storefront.plugins import forget_request_memo

    from .lookup import MEMO

    forget_request_memo(MEMO)


def create_campaign(data: dict, staff) -> Campaign:
    cleaned, quotas = clean_campaign(data)
    _forget_lookups()
    with write_transaction():
        _check_overlap(None, cleaned, quotas)
        campaign = Campaign(**cleaned, created_at=utcnow())
        db.session.add(campaign)
        db.session.flush()
        for sku_id, quota in quotas.items():
            db.session.add(Quota(campaign_id=campaign.id, sku_id=sku_id, quota=quota, sold=0))
        db.session.flush()
        if staff is not None:
            audit(staff, "presale.create", campaign, after=_audit_view(cleaned, quotas))
    return campaign


def update_campaign(campaign_id: int, data: dict, staff) -> Campaign:
    """Edit a campaign; quotas may be raised or lowered, never below what is sold.

    Orders already placed keep the promise and balance window they were sold with.
    """
    campaign = get_campaign(campaign_id)
    data = {**{k: getattr(campaign, k) for k in FIELDS},
            "quotas": {q.sku_id: q.quota for q in campaign.quotas}, **data}
    cleaned, quotas = clean_campaign(data)
    if cleaned["product_id"] != campaign.product_id:
        raise ValidationFailed(_("A presale cannot move to another product."), field="product_id")
    _forget_lookups()
    with write_transaction():
        _check_overlap(campaign.id, cleaned, quotas)
        before = _audit_view({k: getattr(campaign, k) for k in cleaned},
                             {q.sku_id: q.quota for q in campaign.quotas})
        for key, value in cleaned.items():
            setattr(campaign, key, value)
        for sku_id, quota in quotas.items():
            _set_quota(campaign.id, sku_id, quota)
        if staff is not None:
            after = _audit_view(cleaned, quotas)
            changed = [k for k in after if before.get(k) != after[k]]
            audit(staff, "presale.update", campaign, before={k: before.get(k) for k in changed},
                  after={k: after[k] for k in changed})
    return campaign


def set_quota(campaign_id: int, sku_id: int, quota, staff) -> Quota:
    """Set (raise or lower) one SKU's quota; lowering below what is sold is refused."""
    campaign = get_campaign(campaign_id)
    quota = _int(quota, "quota", maximum=MAX_QUOTA, optional=False)
    if sku_id not in {s.id for s in campaign.product.skus}:
        raise ValidationFailed(_("That variant is not part of this product."), field="sku_id")
    _forget_lookups()
    with write_transaction():
        previous = db.session.execute(select(Quota.quota).where(
            Quota.campaign_id == campaign.id, Quota.sku_id == sku_id)).scalar_one_or_none()
        row = _set_quota(campaign.id, sku_id, quota)
        if staff is not None:
            audit(staff, "presale.quota", campaign, before={"sku_id": sku_id, "quota": previous},
                  after={"sku_id": sku_id, "quota": quota})
    return row


def _set_quota(campaign_id: int, sku_id: int, quota: int) -> Quota:
    row = db.session.execute(select(Quota).where(Quota.campaign_id == campaign_id, Quota.sku_id == sku_id)
                             ).scalar_one_or_none()
    if row is None:
        row = Quota(campaign_id=campaign_id, sku_id=sku_id, quota=quota, sold=0)
        db.session.add(row)
        db.session.flush()
        return row
    # Conditional: a checkout selling the last units at this moment is never undercut.
    done = db.session.execute(text("UPDATE presale_quotas SET quota = :q WHERE id = :id AND sold <= :q"),
                              {"q": quota, "id": row.id}).rowcount
    if done != 1:
        db.session.refresh(row)
        raise Conflict(_("%(n)s are already sold; the quota cannot be lower.", n=row.sold),
                       code="quota_below_sold", field="quotas", details={"sku_id": sku_id, "sold": row.sold})
    db.session.refresh(row)
    return row


def _audit_view(cleaned: dict, quotas: dict) -> dict:
    view = {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in cleaned.items()}
    view["quotas"] = {str(k): v for k, v in quotas.items()}
    return view


def get_campaign(campaign_id) -> Campaign:
    try:
        campaign = db.session.get(Campaign, int(campaign_id))
    except (TypeError, ValueError):
        campaign = None
    if campaign is None:
        raise NotFound(_("Presale not found."))
    return campaign


def list_campaigns() -> list[Campaign]:
    # The list shows each campaign's product and its quotas' SKUs: loaded with it, not per row.
    stmt = (select(Campaign).options(joinedload(Campaign.product), selectinload(Campaign.quotas).joinedload(Quota.sku))
            .order_by(Campaign.starts_at.desc(), Campaign.id.desc()))
    return list(db.session.execute(stmt).scalars().unique())


@dataclass
class CampaignStats:
    campaign: Campaign
    quota: int
    sold: int
    deposits_paid: int
    balances_paid: int
    balances_outstanding: int
    at_risk: int
    overdue: int

    @property
    def remaining(self) -> int:
        return max(self.quota - self.sold, 0)


def campaign_stats(campaigns: list[Campaign], now: datetime | None = None) -> list[CampaignStats]:
    """The presale list: quota and sold, deposit and balance counts, shipments at risk or overdue."""
    now = now or utcnow()
    ids = [c.id for c in campaigns]
    if not ids:
        return []
    base = (select(PresaleOrder.campaign_id, func.count(PresaleOrder.id))
            .join(Order, Order.id == PresaleOrder.order_id).where(PresaleOrder.campaign_id.in_(ids))
            .group_by(PresaleOrder.campaign_id))
    paid_states = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED)

    def count(*conditions) -> dict[int, int]:
        return {row[0]: row[1] for row in db.session.execute(base.where(and_(*conditions))).all()}

    deposit = PresaleOrder.mode == DEPOSIT
    deposits_paid = count(deposit, Order.paid_total > 0)
    balances_paid = count(deposit, Order.status.in_(paid_states))
    outstanding = count(deposit, Order.status == OrderStatus.PENDING_PAYMENT, Order.paid_total > 0)
    at_risk = count(Order.status == OrderStatus.PAID, Order.ship_by >= now, Order.ship_by < now + timedelta(hours=24))
    overdue = count(Order.status == OrderStatus.PAID, Order.ship_by < now)
    rows = []
    for c in campaigns:
        rows.append(CampaignStats(c, sum(q.quota for q in c.quotas), sum(q.sold for q in c.quotas),
                                  deposits_paid.get(c.id, 0), balances_paid.get(c.id, 0),
                                  outstanding.get(c.id, 0), at_risk.get(c.id, 0), overdue.get(c.id, 0)))
    return rows


def attention_orders(now: datetime | None = None, limit: int = 50) -> list[tuple[Order, bool]]:
    """Presale orders not shipped whose ship-by is within 24 h (False) or already past (True)."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Order).join(PresaleOrder, PresaleOrder.order_id == Order.id)
        .where(Order.status == OrderStatus.PAID, Order.ship_by < now + timedelta(hours=24))
        .order_by(Order.ship_by).limit(limit)).scalars().all()
    return [(order, order.ship_by < now) for order in rows]


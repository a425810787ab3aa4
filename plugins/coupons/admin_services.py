"""Staff use cases: create, edit, pause, duplicate, generate single-use codes, statistics.

Admin pages and the admin API call these same functions.
"""
from __future__ import annotations

import csv
import io
import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storefront.audit.services import record as audit
from storefront.database import write_transaction
from storefront.errors import NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.orders.models import Order

from .claimables import bump_version
from .models import KINDS, Coupon, CouponCode, CouponUse, WalletCoupon
from .rules import normalize_code
from .services import CODE_RE, row_id

FIELDS = ("name", "code", "kind", "percent_bp", "max_discount", "amount", "step", "tiers", "min_spend",
          "product_ids", "exclude_presale", "exclude_discounted", "starts_at", "ends_at", "total_quantity",
          "per_buyer_limit", "claimable", "claim_quota", "single_use_codes", "active")
INT_FIELDS = ("percent_bp", "max_discount", "amount", "step", "min_spend")
OPTIONAL_INTS = ("total_quantity", "per_buyer_limit", "claim_quota")
BOOL_FIELDS = ("exclude_presale", "exclude_discounted", "claimable", "single_use_codes", "active")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and retyped
MAX_BATCH = 5000


def _int(data, name, *, low=0, high=10**10, optional=False):
    value = data.get(name)
    if value in (None, ""):
        if optional:
            return None
        return 0
    if isinstance(value, bool):
        raise ValidationFailed(_("Enter a whole number."), field=name)
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Enter a whole number."), field=name) from None
    if not low <= value <= high:
        raise ValidationFailed(_("Enter a number between %(low)s and %(high)s.", low=low, high=high), field=name)
    return value


def validate(data: dict, *, current: Coupon | None = None) -> dict:
    """Check and normalise coupon values; errors name the field."""
    base = {name: getattr(current, name) for name in FIELDS} if current is not None else {}
    data = {**base, **{k: v for k, v in data.items() if k in FIELDS}}
    out: dict = {}
    name = (data.get("name") or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(_("Give the coupon a name (at most 120 characters)."), field="name")
    out["name"] = name
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValidationFailed(_("Choose a coupon type."), field="kind")
    out["kind"] = kind
    for field in INT_FIELDS:
        out[field] = _int(data, field)
    for field in OPTIONAL_INTS:
        out[field] = _int(data, field, low=1, optional=True)
    for field in BOOL_FIELDS:
        out[field] = bool(data.get(field, field == "active"))
    code = normalize_code(data.get("code") or "")
    if code and not CODE_RE.match(code):
        raise ValidationFailed(_("Codes are 3-40 letters, digits, - or _."), field="code")
    out["code"] = code or None
    if kind == "percent" and not 1 <= out["percent_bp"] <= 10000:
        raise ValidationFailed(_("A percentage between 0.01 % and 100 % (in basis points 1-10000)."),
                               field="percent_bp")
    if kind == "fixed" and out["amount"] <= 0:
        raise ValidationFailed(_("Enter the amount off."), field="amount")
    if kind == "repeat" and (out["amount"] <= 0 or out["step"] <= 0):
        raise ValidationFailed(_("Enter the amount off and the spend step."), field="step")
    tiers = data.get("tiers") or []
    if isinstance(tiers, str):
        tiers = parse_tiers(tiers)
    try:
        tiers = sorted([int(t), int(o)] for t, o in tiers)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Write tiers as spend:off pairs."), field="tiers") from None
    if kind == "tiers":
        if not tiers or any(t <= 0 or o <= 0 or o > t for t, o in tiers) or len({t for t, _o in tiers}) != len(tiers):
            raise ValidationFailed(_("Each tier needs a spend above zero and a discount no larger than it."),
                                   field="tiers")
    out["tiers"] = tiers if kind == "tiers" else []
    try:
        out["product_ids"] = sorted({int(p) for p in (data.get("product_ids") or [])})
    except (TypeError, ValueError):
        raise ValidationFailed(_("Product ids are numbers."), field="product_ids") from None
    for field in ("starts_at", "ends_at"):
        value = data.get(field)
        if value is not None and not isinstance(value, datetime):
            raise ValidationFailed(_("Enter a date and time."), field=field)
        out[field] = value.replace(tzinfo=None) if value is not None else None
    if out["starts_at"] and out["ends_at"] and out["ends_at"] <= out["starts_at"]:
        raise ValidationFailed(_("The end must be after the start."), field="ends_at")
    if out["single_use_codes"] and out["code"]:
        raise ValidationFailed(_("A coupon with generated single-use codes has no shared code."), field="code")
    if current is not None and out["total_quantity"] is not None and out["total_quantity"] < current.used:
        raise ValidationFailed(_("Already used %(n)s times; the quantity cannot be lower.", n=current.used),
                               field="total_quantity")
    if current is not None and out["claim_quota"] is not None and out["claim_quota"] < current.claimed:
        raise ValidationFailed(_("Already claimed %(n)s times; the quota cannot be lower.", n=current.claimed),
                               field="claim_quota")
    return out


def parse_tiers(text_value: str) -> list[list[int]]:
    """``"200:20, 500:60"`` in major units -> [[20000, 2000], [50000, 6000]]."""
    from flask import current_app

    from storefront.money import MoneyError, parse_money

    currency = current_app.config["STOREFRONT_CURRENCY"]
    tiers = []
    for part in (text_value or "").replace("\n", ",").split(","):
        if not part.strip():
            continue
        spend, sep, off = part.partition(":")
        try:
            if not sep:
                raise ValueError
            tiers.append([parse_money(spend.strip(), currency).amount, parse_money(off.strip(), currency).amount])
        except (MoneyError, ValueError):
            raise ValidationFailed(_("Write tiers as spend:off pairs, e.g. 200:20, 500:60."), field="tiers") from None
    return tiers


def get_coupon(coupon_id) -> Coupon:
    key = row_id(coupon_id)
    coupon = db.session.get(Coupon, key) if key is not None else None
    if coupon is None:
        raise NotFound(_("No such coupon."))
    return coupon


def snapshot(coupon: Coupon) -> dict:
    """JSON-safe view of the staff-editable fields (for the audit log)."""
    return {name: _plain(getattr(coupon, name)) for name in FIELDS}


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys that differ, so an audit entry shows what the edit did."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _save(apply, actor, action: str, before: dict | None = None) -> Coupon:
    try:
        with write_transaction():
            coupon = apply()
            db.session.flush()
            after = snapshot(coupon)
            if before is not None:
                before, after = changes(before, after)
            audit(actor, action, coupon, before=before, after=after)
            bump_version()
    except IntegrityError:
        raise ValidationFailed(_("Another coupon already uses this code."), field="code") from None
    return coupon


def create_coupon(data: dict, *, actor=None, action: str = "coupons.create") -> Coupon:
    values = validate(data)

    def apply():
        coupon = Coupon(**values)
        db.session.add(coupon)
        return coupon

    return _save(apply, actor, action)


def update_coupon(coupon_id: int, data: dict, *, actor=None) -> Coupon:
    coupon = get_coupon(coupon_id)
    values = validate(data, current=coupon)
    before = {}

    def apply():
        row = db.session.get(Coupon, coupon_id)
        before.update(snapshot(row))
        for key, value in values.items():
            setattr(row, key, value)
        return row

    return _save(apply, actor, "coupons.update", before)


def set_active(coupon_id: int, active: bool, *, actor=None) -> Coupon:
    get_coupon(coupon_id)
    with write_transaction():
        row = db.session.get(Coupon, coupon_id)
        before = bool(row.active)
        row.active = bool(active)
        audit(actor, "coupons.activate" if row.active else "coupons.pause", row,
              before={"active": before}, after={"active": row.active})
        bump_version()
    return row


def duplicate_coupon(coupon_id: int, *, actor=None) -> Coupon:
    """A paused copy with fresh counters (and no code: codes are unique)."""
    source = get_coupon(coupon_id)
    values = {name: getattr(source, name) for name in FIELDS}
    values.update(name=_("Copy of %(name)s", name=source.name)[:120], code=None, active=False)
    return create_coupon(values, actor=actor, action="coupons.duplicate")


def generate_codes(coupon_id: int, count, *, actor=None) -> list[str]:
    """``count`` unique single-use codes (secrets); a collision simply draws again."""
    coupon = get_coupon(coupon_id)
    count = _int({"count": count}, "count", low=1, high=MAX_BATCH)
    if not coupon.single_use_codes:
        raise ValidationFailed(_("Turn on single-use codes for this coupon first."), field="count")
    made: list[str] = []
    while len(made) < count:
        batch = ["".join(secrets.choice(CODE_ALPHABET) for _ in range(12)) for _ in range(count - len(made))]
        existing = set(db.session.execute(select(CouponCode.code).where(CouponCode.code.in_(batch))).scalars())
        batch = [c for c in dict.fromkeys(batch) if c not in existing]
        try:
            with write_transaction():
                db.session.add_all(CouponCode(coupon_id=coupon.id, code=c) for c in batch)
                # The codes themselves are secrets: the log keeps how many, not which.
                audit(actor, "coupons.generate_codes", coupon, after={"count": len(batch)})
        except IntegrityError:
            continue  # a concurrent batch drew the same code: draw again
        made.extend(batch)
    return made


def codes_csv(coupon_id: int) -> str:
    get_coupon(coupon_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "used_at"])
    for code, used_at in db.session.execute(select(CouponCode.code, CouponCode.used_at)
                                            .where(CouponCode.coupon_id == coupon_id).order_by(CouponCode.id)):
        writer.writerow([code, used_at.isoformat() if used_at else ""])
    return out.getvalue()


def list_coupons(after: int | None = None, limit: int = 50) -> list[Coupon]:
    stmt = select(Coupon).order_by(Coupon.id.desc()).limit(limit)
    if after:
        stmt = stmt.where(Coupon.id < after)
    return list(db.session.execute(stmt).scalars())


def stats(coupon_ids: list[int]) -> dict[int, dict]:
    """Per coupon: claimed, used (not returned), discount given, revenue of the orders using it (SQL aggregates)."""
    result = {cid: {"claimed": 0, "used": 0, "discount": 0, "revenue": 0} for cid in coupon_ids}
    if not coupon_ids:
        return result
    for cid, claimed in db.session.execute(select(WalletCoupon.coupon_id, func.count())
                                           .where(WalletCoupon.coupon_id.in_(coupon_ids))
                                           .group_by(WalletCoupon.coupon_id)):
        result[cid]["claimed"] = claimed
    for cid, used, discount in db.session.execute(
            select(CouponUse.coupon_id, func.count(), func.coalesce(func.sum(CouponUse.discount), 0))
            .where(CouponUse.coupon_id.in_(coupon_ids), CouponUse.status == "used")
            .group_by(CouponUse.coupon_id)):
        result[cid].update(used=used, discount=int(discount))
    for cid, revenue in db.session.execute(
            select(CouponUse.coupon_id, func.coalesce(func.sum(Order.total), 0))
            .join(Order, Order.payment_id == CouponUse.payment_id)
            .where(CouponUse.coupon_id.in_(coupon_ids), CouponUse.status == "used")
            .group_by(CouponUse.coupon_id)):
        result[cid]["revenue"] = int(revenue)
    return result


__all__ = ["validate", "create_coupon", "update_coupon", "set_active", "duplicate_coupon", "generate_codes",
           "codes_csv", "list_coupons", "stats", "get_coupon"]

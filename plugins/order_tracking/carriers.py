"""The carrier registry: names, codes, tracking page templates, transit days.

The core ships orders with a carrier *name* from the shop setting
``carriers``; parcels are matched to registry rows by that name,
case-insensitively. Until staff load or edit the registry, the preset
below answers lookups (nothing is written on a page view).
"""
from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storefront.audit.services import record as audit
from storefront.database import write_transaction
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.plugins.memo import forget_request_memo, request_memo

from .models import Carrier

#: (code, name, tracking URL template, typical transit days)
PRESET = (
    ("sf", "SF Express", "https://www.sf-express.com/chn/sc/waybill/waybill-detail/{tracking}", 2),
    ("zto", "ZTO", "https://www.kuaidi100.com/chaxun?com=zhongtong&nu={tracking}", 3),
    ("yto", "YTO", "https://www.kuaidi100.com/chaxun?com=yuantong&nu={tracking}", 3),
    ("sto", "STO", "https://www.kuaidi100.com/chaxun?com=shentong&nu={tracking}", 3),
    ("yunda", "Yunda", "https://www.kuaidi100.com/chaxun?com=yunda&nu={tracking}", 3),
    ("jd", "JD Logistics", "https://www.jdl.com/orderSearch/?waybillNum={tracking}", 2),
    ("ems", "EMS", "https://www.kuaidi100.com/chaxun?com=ems&nu={tracking}", 4),
    ("jt", "J&T Express", "https://www.kuaidi100.com/chaxun?com=jtexpress&nu={tracking}", 3),
    ("ghn", "Giao Hàng Nhanh", "https://donhang.ghn.vn/?order_code={tracking}", 3),
    ("viettelpost", "Viettel Post", "https://viettelpost.com.vn/tra-cuu-hanh-trinh-don/?orderNumber={tracking}", 3),
)
CODE_RE = re.compile(r"^[a-z0-9_-]{2,32}$")


def _preset_rows() -> list[Carrier]:
    return [Carrier(code=c, name=n, tracking_url=u, transit_days=d, active=True) for c, n, u, d in PRESET]


MEMO = "order_tracking.carriers"


def list_carriers() -> list[Carrier]:
    """The registry (or the preset), read once a request: a tracking page matches each
    parcel's carrier by name and again for its arrival estimate. The writers below forget it."""
    memo = request_memo(MEMO)
    if memo is not None and "all" in memo:
        return list(memo["all"])
    rows = list(db.session.execute(select(Carrier).order_by(Carrier.name)).scalars()) or _preset_rows()
    if memo is not None:
        memo["all"] = rows
    return list(rows)


def registry_is_empty() -> bool:
    return db.session.execute(select(func.count()).select_from(Carrier)).scalar_one() == 0


def seed_preset(actor=None) -> int:
    """Write the preset when the registry is empty (idempotent); returns rows added.

    Staff loading the preset is audited; the automatic seed on a shop's first
    shipment (no actor) is not a staff action.
    """
    # Every shipment asks; only a shop's first finds the registry empty. Reading first
    # keeps the others from taking the write lock (SQLite's is the whole database's).
    if not registry_is_empty():
        return 0
    try:
        with write_transaction():
            if not registry_is_empty():
                return 0
            db.session.add_all(_preset_rows())
            forget_request_memo(MEMO)
            if actor is not None:
                audit(actor, "order_tracking.carriers_preset", object_type="carrier",
                      after={"codes": [row[0] for row in PRESET]})
    except IntegrityError:
        # Two first shipments at once both saw the registry empty (PostgreSQL): the other
        # request's preset won the unique codes, and it is the same preset.
        return 0
    return len(PRESET)


def carrier_for_name(name: str | None) -> Carrier | None:
    wanted = (name or "").strip().casefold()
    if not wanted:
        return None
    for carrier in list_carriers():
        if carrier.name.casefold() == wanted:
            return carrier
    return None


def carrier_for_code(code: str | None) -> Carrier | None:
    wanted = (code or "").strip().lower()
    for carrier in list_carriers():
        if carrier.code == wanted:
            return carrier
    return None


def tracking_url(carrier: Carrier | None, tracking_number: str) -> str | None:
    """The carrier's page for this number; the number is URL-encoded (it came from outside)."""
    if carrier is None or "{tracking}" not in (carrier.tracking_url or ""):
        return None
    return carrier.tracking_url.replace("{tracking}", quote(tracking_number or "", safe=""))


def validate(data: dict) -> dict:
    code = (data.get("code") or "").strip().lower()
    name = (data.get("name") or "").strip()
    url = (data.get("tracking_url") or "").strip()
    days = data.get("transit_days")
    if not CODE_RE.match(code):
        raise ValidationFailed(_("A code has 2 to 32 lower-case letters, digits, - or _."), field="code")
    if not name or len(name) > 80:
        raise ValidationFailed(_("Enter a name of at most 80 characters."), field="name")
    if url and (not url.startswith("https://") or "{tracking}" not in url or len(url) > 500):
        raise ValidationFailed(_("Use an https:// address containing {tracking}."), field="tracking_url")
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 60:
        raise ValidationFailed(_("Transit days are a number from 0 to 60."), field="transit_days")
    return {"code": code, "name": name, "tracking_url": url, "transit_days": days,
            "active": bool(data.get("active", True))}


def _check_unique(values: dict, carrier_id: int | None) -> None:
    clash = db.session.execute(select(Carrier).where(
        (Carrier.code == values["code"]) | (func.lower(Carrier.name) == values["name"].lower()))).scalars().all()
    for row in clash:
        if row.id != carrier_id:
            field = "code" if row.code == values["code"] else "name"
            raise ValidationFailed(_("Another carrier already uses this %(field)s.", field=field), field=field)


def get_carrier(carrier_id: int) -> Carrier:
    carrier = db.session.get(Carrier, int(carrier_id))
    if carrier is None:
        raise NotFound(_("Carrier not found."))
    return carrier


def snapshot(carrier: Carrier) -> dict:
    return {key: getattr(carrier, key) for key in ("code", "name", "tracking_url", "transit_days", "active")}


def create_carrier(data: dict, actor=None) -> Carrier:
    values = validate(data)
    if registry_is_empty():
        seed_preset(actor)  # editing starts from the preset, never from an empty list
    with write_transaction():
        _check_unique(values, None)
        carrier = Carrier(**values)
        db.session.add(carrier)
        forget_request_memo(MEMO)
        db.session.flush()
        audit(actor, "order_tracking.carrier_create", carrier, after=snapshot(carrier))
    return carrier


def update_carrier(carrier_id: int, data: dict, actor=None) -> Carrier:
    values = validate(data)
    with write_transaction():
        carrier = get_carrier(carrier_id)
        _check_unique(values, carrier.id)
        before = snapshot(carrier)
        for key, value in values.items():
            setattr(carrier, key, value)
        forget_request_memo(MEMO)
        after = snapshot(carrier)
        changed = [key for key in after if before[key] != after[key]]
        audit(actor, "order_tracking.carrier_update", carrier,
              before={key: before[key] for key in changed}, after={key: after[key] for key in changed})
    return carrier


def delete_carrier(carrier_id: int, actor=None) -> None:
    with write_transaction():
        carrier = get_carrier(carrier_id)
        # Counted under lock: two staff deleting the last two at once would each see two left
        # on PostgreSQL and leave none.
        if len(db.session.execute(select(Carrier.id).with_for_update()).all()) <= 1:
            raise Conflict(_("Keep at least one carrier."))
        audit(actor, "order_tracking.carrier_delete", carrier, before=snapshot(carrier))
        db.session.delete(carrier)
        forget_request_memo(MEMO)

"""Promo popups: the one place that validates, writes and counts.

The admin pages, the JSON API and the demo data call these functions.
Every change bumps the plugin's version stamp (``plugin_states.version``) in
the same transaction, which invalidates the buyer-side cache in every
process on its next request (see :mod:`.targeting`).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from storefront.audit.services import record as audit
from storefront.clock import utcnow
from storefront.database import write_transaction
from storefront.errors import NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.models_base import MAX_ROW_ID

from .models import AUDIENCES, EVENTS, FREQUENCIES, PAGES, TRIGGERS, VARIANTS, Popup, PopupStat
from .sanitize import clean_html, safe_image_url, safe_url
from storefront.clock import shop_today

PLUGIN_NAME = "promo_popups"

#: field -> max length, for every free-text field.
TEXT_LIMITS = {"title": 120, "image_url": 500, "image_alt": 200, "cta_label": 60, "cta_url": 500,
               "b_title": 120, "b_cta_label": 60, "b_cta_url": 500, "coupon_code": 40}
BODY_LIMIT = 5000
FIELDS = ("title", "body", "image_url", "image_alt", "cta_label", "cta_url", "starts_at", "ends_at",
          "pages", "audience", "trigger", "trigger_value", "frequency", "priority", "active",
          "b_enabled", "b_title", "b_body", "b_cta_label", "b_cta_url", "split_percent", "coupon_code")
DEFAULTS: dict[str, Any] = {"body": "", "image_url": "", "image_alt": "", "cta_label": "", "cta_url": "",
                            "starts_at": None, "ends_at": None, "pages": ["home"], "audience": "everyone",
                            "trigger": "load", "trigger_value": 0, "frequency": "session", "priority": 0,
                            "active": True, "b_enabled": False, "b_title": "", "b_body": "",
                            "b_cta_label": "", "b_cta_url": "", "split_percent": 50, "coupon_code": ""}


def validate(data: dict[str, Any], *, partial_of: Popup | None = None) -> dict[str, Any]:
    """Normalised, sanitised column values, or ValidationFailed listing every bad field.

    ``partial_of``: fill fields missing from ``data`` from this popup (API PATCH).
    ``starts_at``/``ends_at`` must already be naive UTC.
    """
    if partial_of is not None:
        base = {name: getattr(partial_of, name) for name in FIELDS}
        base["pages"] = partial_of.page_list
    else:
        base = dict(DEFAULTS)
    merged = {**base, **{k: v for k, v in data.items() if k in FIELDS}}
    # PostgreSQL text cannot hold NUL; browsers ignore it anyway.
    merged = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in merged.items()}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}

    for name, limit in TEXT_LIMITS.items():
        raw = merged.get(name) or ""
        value = raw.strip() if isinstance(raw, str) else ""
        if not isinstance(raw, str):
            errors[name] = _("Enter text.")
        elif len(value) > limit:
            errors[name] = _("At most %(n)s characters.", n=limit)
        out[name] = value
    if not out.get("title"):
        errors["title"] = _("Enter a title.")
    for name in ("body", "b_body"):
        raw = merged.get(name) or ""
        if not isinstance(raw, str) or len(raw) > BODY_LIMIT:
            errors[name] = _("At most %(n)s characters.", n=BODY_LIMIT)
            raw = ""
        out[name] = clean_html(raw)
    for name in ("cta_url", "b_cta_url"):
        if out.get(name) and safe_url(out[name]) is None:
            errors[name] = _("Use a shop page starting with / or an http(s):// address.")
    if out.get("image_url") and safe_image_url(out["image_url"]) is None:
        errors["image_url"] = _("Upload the image: images from other sites are blocked by the shop's "
                                "security policy.")
    for label, url in (("cta_label", "cta_url"), ("b_cta_label", "b_cta_url")):
        if bool(out.get(label)) != bool(out.get(url)) and url not in errors:
            errors[url if out.get(label) else label] = _("A button needs both a label and a link.")

    pages = merged.get("pages") or []
    if isinstance(pages, str):
        pages = [p for p in pages.split(",") if p]
    if not pages or any(p not in PAGES for p in pages):
        errors["pages"] = _("Choose at least one of the listed pages.")
    pages = list(dict.fromkeys(pages))
    out["pages"] = "all" if "all" in pages else ",".join(pages)

    for name, allowed in (("audience", AUDIENCES), ("trigger", TRIGGERS), ("frequency", FREQUENCIES)):
        if merged.get(name) not in allowed:
            errors[name] = _("Choose one of the listed options.")
        out[name] = merged.get(name)
    for name, low, high in (("trigger_value", 0, 3600), ("priority", -1000, 1000), ("split_percent", 0, 100)):
        try:
            number = int(merged.get(name) or 0)
        except (TypeError, ValueError):
            errors[name] = _("Enter a whole number.")
            continue
        if not low <= number <= high:
            errors[name] = _("Between %(low)s and %(high)s.", low=low, high=high)
        out[name] = number
    if out.get("trigger") == "scroll" and not 1 <= out.get("trigger_value", 0) <= 100:
        errors["trigger_value"] = _("Scroll depth is a percentage between 1 and 100.")
    for name in ("starts_at", "ends_at"):
        value = merged.get(name)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is not None):
            errors[name] = _("Enter a date and time.")
        out[name] = value
    if (isinstance(out.get("starts_at"), datetime) and isinstance(out.get("ends_at"), datetime)
            and out["ends_at"] <= out["starts_at"] and "ends_at" not in errors):
        errors["ends_at"] = _("The end must be after the start.")
    out["active"] = bool(merged.get("active"))
    out["b_enabled"] = bool(merged.get("b_enabled"))
    if out["b_enabled"] and not out.get("b_title"):
        errors["b_title"] = _("Variant B needs a title.")
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(errors[first], field=first, details={"fields": errors})
    return out


def bump_version() -> None:
    """Invalidate every process's popup cache (inside the caller's transaction).

    Only an enabled plugin renders popups and enabling writes its
    ``plugin_states`` row, so a missing row has no cache to invalidate.
    """
    db.session.execute(text("UPDATE plugin_states SET version = version + 1, updated_at = :now "
                            "WHERE name = :name"), {"now": utcnow(), "name": PLUGIN_NAME})


def list_popups() -> list[Popup]:
    return list(db.session.execute(select(Popup).order_by(Popup.priority.desc(), Popup.id.desc())).scalars())


def get_popup(popup_id: int) -> Popup:
    # Larger than a BIGINT cannot name a row, and would overflow the database driver.
    in_range = isinstance(popup_id, int) and not isinstance(popup_id, bool) and 1 <= popup_id <= MAX_ROW_ID
    popup = db.session.get(Popup, popup_id) if in_range else None
    if popup is None:
        raise NotFound(_("No such popup."))
    return popup


def snapshot(popup: Popup) -> dict[str, Any]:
    """JSON-safe view of the staff-editable fields (for the audit log)."""
    out = {}
    for name in FIELDS:
        value = getattr(popup, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    # Only what the edit changed: a popup body is long and mostly untouched.
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def create_popup(data: dict[str, Any], *, actor=None) -> Popup:
    values = validate(data)
    with write_transaction() as session:
        popup = Popup(**values)
        session.add(popup)
        session.flush()
        audit(actor, "promo_popups.create", popup, after=snapshot(popup))
        bump_version()
    return popup


def update_popup(popup_id: int, data: dict[str, Any], *, partial: bool = False, actor=None) -> Popup:
    popup = get_popup(popup_id)
    values = validate(data, partial_of=popup if partial else None)
    with write_transaction():
        popup = get_popup(popup_id)
        before = snapshot(popup)
        for name, value in values.items():
            setattr(popup, name, value)
        before, after = _changes(before, snapshot(popup))
        audit(actor, "promo_popups.update", popup, before=before, after=after)
        bump_version()
    return popup


def set_active(popup_id: int, active: bool, *, actor=None) -> Popup:
    with write_transaction():
        popup = get_popup(popup_id)
        before = bool(popup.active)
        popup.active = bool(active)
        audit(actor, "promo_popups.activate" if popup.active else "promo_popups.pause", popup,
              before={"active": before}, after={"active": popup.active})
        bump_version()
    return popup


def delete_popup(popup_id: int, *, actor=None) -> None:
    with write_transaction() as session:
        popup = get_popup(popup_id)
        audit(actor, "promo_popups.delete", popup, before=snapshot(popup))
        session.execute(PopupStat.__table__.delete().where(PopupStat.popup_id == popup_id))
        session.delete(popup)
        bump_version()


# statistics ---------------------------------------------------------------
_COUNTER = {"impression": "impressions", "click": "clicks", "dismiss": "dismissals", "claim": "claims"}


def record_event(popup_id: int, variant: str, event: str, *, now: datetime | None = None) -> None:
    """Add one ``event`` to today's counter row of ``popup_id``/``variant``.

    ``UPDATE ... SET n = n + 1`` first; when today's row does not exist yet it
    is inserted with ON CONFLICT DO NOTHING (a concurrent beacon may win the
    insert) and the UPDATE repeated, so no count is lost on SQLite or PostgreSQL.
    Callers validate ids first (:func:`.targeting.valid_event`).
    """
    if event not in EVENTS or variant not in VARIANTS:
        raise ValidationFailed(_("Unknown event."), field="event")
    day = shop_today(now or utcnow())
    column = getattr(PopupStat, _COUNTER[event])
    where = (PopupStat.popup_id == popup_id, PopupStat.variant == variant, PopupStat.day == day)
    bump = update(PopupStat).where(*where).values({column: column + 1}).execution_options(synchronize_session=False)
    with write_transaction() as session:
        if session.execute(bump).rowcount == 1:
            return
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(PopupStat).values(
            popup_id=popup_id, variant=variant, day=day, impressions=0, clicks=0, dismissals=0, claims=0,
        ).on_conflict_do_nothing(index_elements=["popup_id", "variant", "day"]))
        if session.execute(bump).rowcount != 1:  # pragma: no cover - the row exists now
            raise ValidationFailed(_("Unknown popup."), field="popup")


def stats(popup_ids: list[int] | None = None, *, since: date | None = None) -> dict[tuple[int, str], dict[str, Any]]:
    """Totals per (popup id, variant): impressions, clicks, dismissals, claims, ctr (percent, 1 decimal)."""
    query = select(PopupStat.popup_id, PopupStat.variant, func.sum(PopupStat.impressions),
                   func.sum(PopupStat.clicks), func.sum(PopupStat.dismissals), func.sum(PopupStat.claims)
                   ).group_by(PopupStat.popup_id, PopupStat.variant)
    if popup_ids is not None:
        query = query.where(PopupStat.popup_id.in_(popup_ids))
    if since is not None:
        query = query.where(PopupStat.day >= since)
    result: dict[tuple[int, str], dict[str, Any]] = {}
    for popup_id, variant, imp, clicks, dismiss, claims in db.session.execute(query):
        imp, clicks = int(imp or 0), int(clicks or 0)
        result[(popup_id, variant)] = {
            "impressions": imp, "clicks": clicks, "dismissals": int(dismiss or 0), "claims": int(claims or 0),
            # Integer arithmetic: tenths of a percent, rounded half up.
            "ctr": ((clicks * 1000 * 2 + imp) // (2 * imp)) / 10 if imp else 0.0,
        }
    return result

"""What a tracking page shows, who may see it, and the guest ways in.

The guest lookup answers a wrong contact exactly as an unknown order: the
same query runs, both contacts are compared in constant time against the
order's (or a dummy's) values, and the one generic "not found" is raised.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse as parse_limit

from storefront.clock import shop_zone, utcnow
from storefront.errors import NotFound, ServiceError
from storefront.extensions import db, limiter
from storefront.i18n import gettext as _
from storefront.orders.display import describe_event
from storefront.orders.models import Order
from storefront.orders.queries import order_with
from storefront.orders.status import OrderStatus

from .carriers import carrier_for_name, tracking_url
from .services import is_stuck, parcels_of, settings

SALT = "order_tracking.guest-link"
LOOKUP_LIMIT_IP = "10/minute"
LOOKUP_LIMIT_ORDER = "5/10 minutes"
STEP_STATUSES = ("in_transit", "out_for_delivery", "delivered")
_DUMMY = ("\x00" * 11, "\x00" * 20)


class RateLimited(ServiceError):
    code = "rate_limited"
    status = 429


@dataclass
class Step:
    key: str
    label: str
    at: datetime | None
    done: bool


@dataclass
class ParcelView:
    id: int | None
    carrier: str
    tracking_number: str
    url: str | None
    events: list = field(default_factory=list)
    last_status: str = ""
    delivered_at: datetime | None = None
    stuck: bool = False


@dataclass
class TrackingView:
    order: Order
    steps: list[Step]
    parcels: list[ParcelView]
    other_events: list
    ship_by: datetime | None
    promise_kept: bool | None
    eta: date | None
    stuck: bool
    masked: dict | None = None


# -- page content ------------------------------------------------------------------------
def _parcel_views(order: Order, now: datetime) -> list[ParcelView]:
    views = []
    for parcel in parcels_of(order.id):
        carrier = carrier_for_name(parcel.carrier_name)
        views.append(ParcelView(parcel.id, parcel.carrier_name, parcel.tracking_number,
                                tracking_url(carrier, parcel.tracking_number), list(reversed(parcel.events)),
                                parcel.last_status, parcel.delivered_at,
                                OrderStatus(order.status) == OrderStatus.SHIPPED and is_stuck(parcel, now)))
    if not views and order.tracking_number and order.carrier:
        # Shipped before the plugin was enabled: show the core's carrier and number.
        carrier = carrier_for_name(order.carrier)
        views.append(ParcelView(None, order.carrier, order.tracking_number,
                                tracking_url(carrier, order.tracking_number)))
    return views


def _eta(order: Order, parcels: list[ParcelView]) -> date | None:
    if not order.shipped_at or OrderStatus(order.status) != OrderStatus.SHIPPED:
        return None
    if parcels and all(p.delivered_at for p in parcels):
        return None
    days = [c.transit_days for c in (carrier_for_name(p.carrier) for p in parcels) if c is not None]
    arrival = order.shipped_at + timedelta(days=max(days) if days else 3)
    # A date means a day in the shop's time zone, not UTC.
    tz = shop_zone()
    return arrival.replace(tzinfo=timezone.utc).astimezone(tz).date()


def _first(parcels: list[ParcelView], status: str) -> datetime | None:
    times = [e.at for p in parcels for e in p.events if e.status == status]
    if status == "delivered":
        # Delivered means every parcel arrived.
        if not parcels or not all(p.delivered_at for p in parcels):
            return None
        return max(p.delivered_at for p in parcels)
    return min(times) if times else None


def tracking_view(order: Order, now: datetime | None = None) -> TrackingView:
    now = now or utcnow()
    parcels = _parcel_views(order, now)
    delivered = _first(parcels, "delivered")
    in_transit = _first(parcels, "in_transit")
    out = _first(parcels, "out_for_delivery")
    steps = [
        Step("ordered", _("Ordered"), order.placed_at, True),
        Step("paid", _("Paid"), order.paid_at, order.paid_at is not None),
        Step("shipped", _("Shipped"), order.shipped_at, order.shipped_at is not None),
        Step("in_transit", _("In transit"), in_transit, in_transit is not None or out is not None or bool(delivered)),
        Step("out_for_delivery", _("Out for delivery"), out, out is not None or bool(delivered)),
        Step("delivered", _("Delivered"), delivered, delivered is not None),
        Step("completed", _("Completed"), order.completed_at, order.completed_at is not None),
    ]
    if OrderStatus(order.status) == OrderStatus.CLOSED:
        steps.append(Step("closed", _("Closed"), order.closed_at, True))
    other = [e for e in sorted(order.events, key=lambda e: (e.at, e.id))
             if e.public and e.kind not in ("status", "note", "parcel_delivered")]
    kept = None
    if order.ship_by is not None and order.shipped_at is not None:
        kept = order.shipped_at <= order.ship_by
    elif order.ship_by is not None and order.ship_by < now and OrderStatus(order.status) == OrderStatus.PAID:
        kept = False
    return TrackingView(order=order, steps=steps, parcels=parcels,
                        other_events=[(e, describe_event(e)) for e in other], ship_by=order.ship_by,
                        promise_kept=kept, eta=_eta(order, parcels), stuck=any(p.stuck for p in parcels))


# -- who may see it ---------------------------------------------------------------------
def _load(number: str, *, guest: bool = False) -> Order | None:
    # Guests: exactly one query whether or not the order exists (its events load after a match).
    return order_with(str(number)[:32], () if guest else ("events",))


def order_for_viewer(user, number: str) -> Order:
    """The buyer's own order, or any order for staff; everything else is "not found"."""
    order = _load(number) if user is not None and getattr(user, "is_authenticated", False) else None
    if order is None or not (getattr(user, "is_staff", False) or order.user_id == user.id):
        raise NotFound(_("Order not found."))
    return order


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def _contacts(order: Order | None) -> tuple[str, str]:
    if order is None:
        return _DUMMY
    email = (order.user.email if order.user_id and order.user else "") or order.contact_email or ""
    return _digits(order.ship_phone) or _DUMMY[0], email.strip().casefold() or _DUMMY[1]


def check_rate(ip: str, number: str) -> None:
    # The app's own switch: the shared limiter object only remembers the last app initialised.
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    strategy = limiter.limiter
    ok_ip = strategy.hit(parse_limit(LOOKUP_LIMIT_IP), "order_tracking_lookup_ip", ip or "-")
    ok_order = strategy.hit(parse_limit(LOOKUP_LIMIT_ORDER), "order_tracking_lookup_order",
                            (number or "").strip().upper()[:32])
    if not (ok_ip and ok_order):
        raise RateLimited(_("Too many lookups. Please wait a few minutes and try again."))


def guest_lookup(number: str, contact: str, ip: str = "") -> Order:
    """The order whose number and phone or e-mail match; the same "not found" otherwise."""
    number = (number or "").strip()
    contact = (contact or "").strip()
    check_rate(ip, number)
    order = _load(number, guest=True)
    phone, email = _contacts(order)
    given_phone = _digits(contact) if "@" not in contact else ""
    # Both compares always run: timing does not tell which contact, or whether the order, exists.
    phone_ok = hmac.compare_digest(phone.encode(), (given_phone or "\x01").encode())
    email_ok = hmac.compare_digest(email.encode(), contact.casefold().encode() or b"\x01")
    if order is None or not (phone_ok or email_ok):
        raise NotFound(_("No order matches this number and contact."))
    return order


# -- signed links -----------------------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def signed_token(order: Order) -> str:
    return _serializer().dumps({"o": order.id, "n": order.number})


def signed_tracking_url(order: Order, external: bool = True) -> str:
    """A link that opens the guest tracking page of ``order`` without typing, valid ``signed_link_days``."""
    return url_for("order_tracking.signed", token=signed_token(order), _external=external)


def order_from_token(token: str) -> Order:
    max_age = int(settings()["signed_link_days"]) * 86400
    try:
        data = _serializer().loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        raise NotFound(_("This tracking link is invalid or has expired.")) from None
    order = db.session.get(Order, data.get("o")) if isinstance(data, dict) and isinstance(data.get("o"), int) else None
    if order is None or order.number != data.get("n"):
        raise NotFound(_("This tracking link is invalid or has expired."))
    return order


# -- masking for guests -----------------------------------------------------------------
def mask_phone(phone: str) -> str:
    digits = _digits(phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_text(text: str, keep: int = 6) -> str:
    text = text or ""
    return text[:keep] + "***" if len(text) > keep else (text[:1] + "***" if text else "")


def guest_view(order: Order) -> TrackingView:
    view = tracking_view(order)
    view.masked = {"name": mask_text(order.ship_name, 1), "phone": mask_phone(order.ship_phone),
                   "address": mask_text(order.ship_address)}
    return view

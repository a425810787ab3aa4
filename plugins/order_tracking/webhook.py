"""The tracking aggregator's webhook: signed, fresh, idempotent (README.md, "Webhook").

Checks run from cheapest to dearest and nothing is written before all of
them pass: secret configured, body size, timestamp within 5 minutes,
HMAC-SHA256 over ``<timestamp>.<body>``, JSON shape, known parcel. The
event id is unique in the database, so a redelivered push answers
``duplicate`` and writes nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storefront.database import write_transaction
from storefront.errors import ServiceError, ValidationFailed
from storefront.extensions import db
from storefront.orders.transitions import Actor

from .models import Parcel, ParcelEvent
from .services import _store_event, clean_event, settings

MAX_BODY = 16 * 1024
MAX_SKEW = 300  # seconds: replay window
SIGNATURE_HEADER = "X-Tracking-Signature"
TIMESTAMP_HEADER = "X-Tracking-Timestamp"
ACTOR = Actor.system("tracking webhook")


class WebhookError(ServiceError):
    pass


def refuse(code: str, message: str, status: int) -> WebhookError:
    exc = WebhookError(message, code=code)
    exc.status = status
    return exc


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _parse_time(value) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise refuse("invalid_payload", "time must be an ISO 8601 string", 400)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise refuse("invalid_payload", "time must be an ISO 8601 string", 400) from None
    if moment.tzinfo is None:
        raise refuse("invalid_payload", "time needs a UTC offset", 400)
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _str(payload: dict, key: str, limit: int, required: bool = True) -> str:
    value = payload.get(key, "" if not required else None)
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise refuse("invalid_payload", f"{key} must be a string of at most {limit} characters", 400)
    return value.strip()


def read_body(req) -> bytes:
    """The raw body, never more than MAX_BODY + 1 bytes read into memory."""
    if (req.content_length or 0) > MAX_BODY:
        raise refuse("too_large", "Body too large.", 413)
    return req.stream.read(MAX_BODY + 1)


def verify(headers, body: bytes, now: datetime) -> None:
    secret = str(settings().get("webhook_secret") or "")
    if not secret:
        raise refuse("webhook_disabled", "No webhook secret is configured.", 403)
    if len(body) > MAX_BODY:
        raise refuse("too_large", "Body too large.", 413)
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise refuse("bad_timestamp", "Missing or malformed timestamp.", 401)
    if abs(now.replace(tzinfo=timezone.utc).timestamp() - int(timestamp)) > MAX_SKEW:
        raise refuse("stale_timestamp", "Timestamp outside the 5-minute window.", 401)
    given = headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), sign(secret, timestamp, body).encode()):
        raise refuse("bad_signature", "Signature does not match.", 401)


def handle(headers, body: bytes, now: datetime) -> tuple[dict, int]:
    """Verify and store one pushed event; raises :class:`WebhookError` (4xx) on refusal."""
    verify(headers, body, now)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise refuse("invalid_payload", "Body is not JSON.", 400) from None
    if not isinstance(payload, dict):
        raise refuse("invalid_payload", "Body must be a JSON object.", 400)
    carrier = _str(payload, "carrier", 32).lower()
    number = _str(payload, "tracking_number", 64)
    event_id = _str(payload, "event_id", 100)
    try:
        values = clean_event({"at": _parse_time(payload.get("time")), "status": payload.get("status"),
                              "location": payload.get("location") or "",
                              "description": payload.get("description") or ""})
    except ValidationFailed as exc:
        raise refuse("invalid_payload", f"{exc.field}: {exc.message}", 400) from None
    # Carriers push an event more than once (retries, replays) and sometimes for parcels
    # this shop does not have: both are answered from plain reads, without the write lock
    # (SQLite's is the whole database's). The parcel's identity does not change, so it is
    # used as read; its conditional UPDATEs and the unique event id guard the write.
    if db.session.execute(select(ParcelEvent.id).where(ParcelEvent.external_id == event_id)).first():
        return {"status": "duplicate", "event_id": event_id}, 200
    parcel = db.session.execute(select(Parcel).where(
        Parcel.carrier_code == carrier, Parcel.tracking_number == number)
        .order_by(Parcel.id.desc()).limit(1)).scalar_one_or_none()
    if parcel is None:
        raise refuse("unknown_parcel", "No parcel with this carrier and tracking number.", 404)
    try:
        with write_transaction(keep=(parcel,)):
            _store_event(parcel, values, source="webhook", external_id=event_id, actor=ACTOR)
    except IntegrityError:  # the same event id pushed twice at once: the other one stored it
        return {"status": "duplicate", "event_id": event_id}, 200
    return {"status": "created", "event_id": event_id}, 201

"""Buyer-side routes: the statistics beacon and the popup's static files."""
from __future__ import annotations

import re

from flask import Blueprint, request

from storefront.extensions import csrf, limiter
from storefront.i18n import gettext as _

from .services import record_event
from .targeting import valid_event

bp = Blueprint("promo_popups", __name__, url_prefix="/p/popups", static_folder="static",
               static_url_path="/static", template_folder="templates")

BEACON_LIMIT = "60/minute"
# Obvious robots, link previewers and scripted clients: answered, never counted.
BOT_USER_AGENT = re.compile(
    r"bot|crawl|spider|slurp|archiver|preview|headless|phantom|lighthouse|python|curl|wget|httpclient"
    r"|java/|go-http|libwww|scrapy|okhttp|axios|node-fetch", re.IGNORECASE)


def is_bot(user_agent: str | None) -> bool:
    return not user_agent or bool(BOT_USER_AGENT.search(user_agent))


def beacon_error(message: str, status: int = 400):
    return {"error": {"code": "invalid_event", "message": message}}, status


def handle_event(payload) -> tuple[object, int]:
    """Shared by the beacon and the API: strict checks, then one counter increment."""
    if is_bot(request.headers.get("User-Agent")):
        return "", 204
    # A page of another site cannot post beacons in a visitor's name.
    if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin"):
        return beacon_error(_("Events come from the shop's own pages only."), 403)
    checked = valid_event(payload.get("popup"), payload.get("variant", "a"), payload.get("event"))
    if checked is None:
        return beacon_error(_("Unknown popup, variant or event."))
    record_event(*checked)
    return "", 204


@bp.post("/event")
@csrf.exempt  # sent by navigator.sendBeacon, which cannot carry a token; input is checked strictly
@limiter.limit(BEACON_LIMIT)
def event():
    payload = request.form if request.form else (request.get_json(silent=True) or {})
    if not isinstance(payload, dict) and not hasattr(payload, "get"):
        return beacon_error(_("Unknown popup, variant or event."))
    return handle_event(payload)

"""The statistics beacon: strict input, robots ignored, rate-limited, exact counts."""
from __future__ import annotations

import threading
import time

import pytest

from plugins.promo_popups import services
from plugins.promo_popups.models import PopupStat
from storefront.extensions import db

from .conftest import make_popup, sign_in

URL = "/p/popups/event"


def totals(popup_id, variant="a"):
    return services.stats([popup_id]).get((popup_id, variant), {})


@pytest.mark.parametrize("event,column", [("impression", "impressions"), ("click", "clicks"),
                                          ("dismiss", "dismissals"), ("claim", "claims")])
def test_beacon_counts_each_event(client, enabled, event, column):
    popup = make_popup()
    for _ in range(2):
        assert client.post(URL, data={"popup": popup.id, "variant": "a", "event": event}).status_code == 204
    assert totals(popup.id)[column] == 2
    assert db.session.execute(db.select(db.func.count(PopupStat.id))).scalar() == 1  # one row per day


def test_beacon_accepts_json_and_variant_b(client, enabled):
    popup = make_popup(b_enabled=True, b_title="B")
    assert client.post(URL, json={"popup": popup.id, "variant": "b", "event": "impression"}).status_code == 204
    assert totals(popup.id, "b")["impressions"] == 1 and totals(popup.id, "a") == {}


@pytest.mark.parametrize("data", [
    {"popup": 999999, "variant": "a", "event": "impression"},
    {"popup": "1; DROP TABLE x", "variant": "a", "event": "impression"},
    {"popup": "ID", "variant": "a", "event": "purchase"},
    {"popup": "ID", "variant": "c", "event": "click"},
    {"popup": "ID", "variant": "b", "event": "click"},  # the popup has no variant B
    {"popup": "ID", "variant": "a"},
    {},
])
def test_beacon_rejects_unknown_ids_events_and_variants(client, enabled, data):
    popup = make_popup()
    data = {k: (popup.id if v == "ID" else v) for k, v in data.items()}
    response = client.post(URL, data=data)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_event"
    assert db.session.execute(db.select(db.func.count(PopupStat.id))).scalar() == 0


def test_beacon_ignores_paused_popups(client, enabled):
    popup = make_popup()
    services.set_active(popup.id, False)
    assert client.post(URL, data={"popup": popup.id, "event": "click"}).status_code == 400


@pytest.mark.parametrize("agent", ["", "Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.4.0",
                                   "python-requests/2.31", "Mozilla/5.0 (compatible; bingbot/2.0)",
                                   "Mozilla/5.0 HeadlessChrome/120.0"])
def test_bots_are_answered_but_not_counted(client, enabled, agent):
    popup = make_popup()
    response = client.post(URL, data={"popup": popup.id, "event": "impression"}, headers={"User-Agent": agent})
    assert response.status_code == 204
    assert totals(popup.id) == {}


def test_cross_site_beacons_are_refused(client, enabled):
    popup = make_popup()
    response = client.post(URL, data={"popup": popup.id, "event": "click"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert client.post(URL, data={"popup": popup.id, "event": "click"},
                       headers={"Sec-Fetch-Site": "same-origin"}).status_code == 204
    assert totals(popup.id)["clicks"] == 1


def test_beacon_needs_no_csrf_token_but_is_rate_limited(secure_client, secure_app, app, enabled):
    popup = make_popup()
    # The limiter counts per clock minute (fixed window): start well inside one.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    codes = [secure_client.post(URL, data={"popup": popup.id, "event": "impression"}).status_code
             for _ in range(61)]
    assert codes[:60] == [204] * 60
    assert codes[60] == 429
    db.session.rollback()  # end this session's read snapshot: the other app's session wrote
    assert totals(popup.id)["impressions"] == 60


def test_concurrent_beacons_lose_no_count(app, enabled):
    popup_id = make_popup().id
    errors = []

    def worker():
        client = app.test_client()
        try:
            for _ in range(5):
                response = client.post(URL, data={"popup": popup_id, "event": "impression"},
                                        headers={"User-Agent": "Mozilla/5.0 Firefox/130.0"},
                                        environ_base={"REMOTE_ADDR": f"10.9.{threading.get_ident() % 250}.1"})
                assert response.status_code == 204, response.get_data(as_text=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    db.session.rollback()
    assert totals(popup_id)["impressions"] == 40


def test_admin_stats_table_per_variant(client, enabled, staff):
    popup = make_popup(title="Stats", b_enabled=True, b_title="B")
    for variant, event, n in (("a", "impression", 3), ("a", "click", 1), ("a", "dismiss", 2),
                              ("b", "impression", 2), ("b", "click", 2), ("b", "claim", 1)):
        for _ in range(n):
            services.record_event(popup.id, variant, event)
    assert totals(popup.id)["ctr"] == 33.3
    assert totals(popup.id, "b")["ctr"] == 100.0
    sign_in(client, staff)
    html = client.get("/admin/popups/").get_data(as_text=True)
    assert "<td>A</td><td>3</td><td>1</td><td>2</td>" in html.replace("\n", "").replace("      ", "")
    assert "33.3 %" in html and "100.0 %" in html

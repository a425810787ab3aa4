"""JSON API: public active-popup lookup and events, staff CRUD, OpenAPI document, disabled plugin."""
from __future__ import annotations

from plugins.promo_popups import services
from plugins.promo_popups.models import Popup
from storefront.extensions import db
from storefront.settings_models import PluginState

from .conftest import bearer, make_popup

BASE = "/api/v1/popups"


def test_paths_in_openapi_document(client, enabled):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/popups/active", "/api/v1/popups/events", "/api/v1/popups/", "/api/v1/popups/{popup_id}",
                 "/api/v1/popups/{popup_id}/stats"):
        assert path in spec["paths"], path
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/popups/"])
    assert {"get", "patch", "delete"} <= set(spec["paths"]["/api/v1/popups/{popup_id}"])


def test_active_popup_for_a_page_is_public_and_sanitised(client, enabled):
    make_popup(title="Home sale", pages=["home"], body='<p onclick="x()">Hi<script>alert(1)</script></p>',
               cta_label="Go", cta_url="/sale")
    body = client.get(f"{BASE}/active?page=home").get_json()
    popup = body["popup"]
    assert popup["title"] == "Home sale" and popup["body"] == "<p>Hi</p>" and popup["cta_url"] == "/sale"
    assert "<script" not in popup["html"] and 'role="dialog"' in popup["html"]
    assert client.get(f"{BASE}/active?page=cart").get_json() == {"popup": None}
    response = client.get(f"{BASE}/active?page=admin")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "validation_failed"


def test_events_endpoint(client, enabled):
    popup = make_popup()
    assert client.post(f"{BASE}/events", json={"popup": popup.id, "event": "click"}).status_code == 204
    assert services.stats([popup.id])[(popup.id, "a")]["clicks"] == 1
    assert client.post(f"{BASE}/events", json={"popup": popup.id + 99, "event": "click"}).status_code == 400
    assert client.post(f"{BASE}/events", json={"popup": popup.id, "event": "hack"}).status_code == 422
    assert client.post(f"{BASE}/events", json={"popup": popup.id, "event": "click"},
                       headers={"User-Agent": "Googlebot"}).status_code == 204
    assert services.stats([popup.id])[(popup.id, "a")]["clicks"] == 1


def test_staff_crud(client, enabled, staff):
    auth = bearer(staff)
    response = client.post(f"{BASE}/", json={"title": "API", "body": "<b>x</b><img src=x onerror=alert(1)>",
                                             "pages": ["home", "product"], "starts_at": "2026-11-11T00:00:00",
                                             "ends_at": "2026-11-12T00:00:00+08:00"}, headers=auth)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["body"] == "<b>x</b><img>" and created["pages"] == ["home", "product"]
    assert created["starts_at"].startswith("2026-11-10T16:00:00") and created["ends_at"].startswith("2026-11-11T16:00")
    pid = created["id"]
    assert client.get(f"{BASE}/", headers=auth).get_json()[0]["id"] == pid
    response = client.patch(f"{BASE}/{pid}", json={"title": "Renamed", "active": False}, headers=auth)
    assert response.status_code == 200 and response.get_json()["title"] == "Renamed"
    assert response.get_json()["pages"] == ["home", "product"]  # untouched fields kept
    response = client.patch(f"{BASE}/{pid}", json={"cta_label": "Go", "cta_url": "javascript:alert(1)"}, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "cta_url"
    assert client.get(f"{BASE}/{pid}/stats", headers=auth).get_json() == [
        {"variant": "a", "impressions": 0, "clicks": 0, "dismissals": 0, "claims": 0, "ctr": 0.0}]
    assert client.delete(f"{BASE}/{pid}", headers=auth).status_code == 204
    assert client.get(f"{BASE}/{pid}", headers=auth).status_code == 404


def test_ids_beyond_bigint_are_404_not_500(client, enabled, staff):
    auth = bearer(staff)
    for huge in (2**63, 2**70):
        assert client.get(f"{BASE}/{huge}", headers=auth).status_code == 404
        assert client.delete(f"{BASE}/{huge}", headers=auth).status_code == 404
        assert client.get(f"{BASE}/{huge}/stats", headers=auth).status_code == 404


def test_staff_endpoints_need_a_staff_token(client, enabled, buyer, staff):
    popup = make_popup()
    assert client.get(f"{BASE}/").status_code == 401
    assert client.post(f"{BASE}/", json={"title": "x"}).status_code == 401
    auth = bearer(buyer)
    assert client.get(f"{BASE}/", headers=auth).status_code == 403
    assert client.delete(f"{BASE}/{popup.id}", headers=auth).status_code == 403
    assert db.session.get(Popup, popup.id) is not None


def test_disabled_plugin_api_answers_404(client, enabled, staff):
    auth = bearer(staff)
    db.session.get(PluginState, "promo_popups").enabled = False
    db.session.commit()
    assert client.get(f"{BASE}/active?page=home").status_code == 404
    assert client.get(f"{BASE}/", headers=auth).status_code == 404
    assert client.post(f"{BASE}/events", json={"popup": 1, "event": "click"}).status_code == 404


def test_api_events_are_rate_limited(secure_client, secure_app, app, enabled):
    popup = make_popup()
    codes = [secure_client.post(f"{BASE}/events", json={"popup": popup.id, "event": "impression"}).status_code
             for _ in range(61)]
    assert codes[:60] == [204] * 60 and codes[60] == 429

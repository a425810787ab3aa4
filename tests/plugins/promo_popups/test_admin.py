"""Admin pages: permissions, CSRF, create/edit/pause/delete, field errors, preview, menu, demo data."""
from __future__ import annotations

import pytest

from plugins.promo_popups import hooks, services
from plugins.promo_popups.models import Popup
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.settings_models import PluginState
from tests.conftest import csrf_token_from

from .conftest import PAGES, make_popup, sign_in

FORM = {"title": "Double 11", "body": "<p><b>Big</b> sale</p>", "pages": ["home", "cart"], "audience": "everyone",
        "trigger": "delay", "trigger_value": "3", "frequency": "day", "priority": "5", "active": "y",
        "split_percent": "50", "cta_label": "Shop now", "cta_url": "/products"}


def count():
    return db.session.execute(db.select(db.func.count(Popup.id))).scalar()


@pytest.fixture
def popup(enabled):
    return make_popup(title="Existing")


def admin_urls(popup_id):
    return [("get", "/admin/popups/"), ("get", "/admin/popups/new"), ("get", f"/admin/popups/{popup_id}/edit"),
            ("get", f"/admin/popups/{popup_id}/preview"), ("post", "/admin/popups/new"),
            ("post", f"/admin/popups/{popup_id}/edit"), ("post", f"/admin/popups/{popup_id}/active"),
            ("post", f"/admin/popups/{popup_id}/delete")]


def test_anonymous_is_sent_to_login(client, popup):
    for method, url in admin_urls(popup.id):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "login" in response.headers["Location"], url


def test_buyer_gets_403(client, popup, buyer):
    sign_in(client, buyer)
    for method, url in admin_urls(popup.id):
        assert getattr(client, method)(url).status_code == 403, url
    assert count() == 1


def test_staff_creates_edits_pauses_and_deletes(client, enabled, staff):
    sign_in(client, staff)
    assert client.get("/admin/popups/").status_code == 200
    response = client.post("/admin/popups/new", data=FORM)
    assert response.status_code == 302
    popup = db.session.execute(db.select(Popup)).scalar_one()
    assert popup.pages == "home,cart" and popup.trigger_value == 3 and popup.priority == 5
    assert response.headers["Location"].endswith(f"/admin/popups/{popup.id}/preview")

    response = client.post(f"/admin/popups/{popup.id}/edit", data={**FORM, "title": "Renamed", "pages": ["all"]})
    assert response.status_code == 302
    db.session.refresh(popup)
    assert popup.title == "Renamed" and popup.pages == "all"

    assert client.post(f"/admin/popups/{popup.id}/active", data={"active": "0"}).status_code == 302
    db.session.refresh(popup)
    assert popup.active is False
    assert client.post(f"/admin/popups/{popup.id}/active", data={"active": "1"}).status_code == 302
    db.session.refresh(popup)
    assert popup.active is True

    services.record_event(popup.id, "a", "impression")
    assert client.post(f"/admin/popups/{popup.id}/delete").status_code == 302
    db.session.expire_all()
    assert count() == 0
    assert client.post(f"/admin/popups/{popup.id}/delete").status_code == 404
    assert client.get(f"/admin/popups/{popup.id}/edit").status_code == 404


@pytest.mark.parametrize("change,field", [
    ({"title": ""}, "title"),
    ({"title": "x" * 121}, "title"),
    ({"cta_url": ""}, "cta_url"),  # a label without a link
    ({"pages": []}, "pages"),
    ({"pages": ["checkout"]}, "pages"),
    ({"audience": "staff"}, "audience"),
    ({"trigger_value": "-1"}, "trigger_value"),
    ({"trigger": "scroll", "trigger_value": "0"}, "trigger_value"),
    ({"split_percent": "101"}, "split_percent"),
    ({"starts_at": "2026-11-12T00:00", "ends_at": "2026-11-11T00:00"}, "ends_at"),
    ({"starts_at": "2026-11-11T00:00", "ends_at": "2026-11-11T00:00"}, "ends_at"),
    ({"starts_at": "yesterday"}, "starts_at"),
    ({"b_enabled": "y", "b_title": ""}, "b_title"),
    ({"priority": "many"}, "priority"),
])
def test_bad_input_shows_error_next_to_field(client, enabled, staff, change, field):
    sign_in(client, staff)
    response = client.post("/admin/popups/new", data={**FORM, **change})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert count() == 0


def test_unsaved_form_previews_at_both_widths_without_saving(client, enabled, staff):
    sign_in(client, staff)
    data = {**FORM, "title": "Draft <b>title</b>", "body": "<p>Hi<script>alert(1)</script></p>", "action": "preview"}
    response = client.post("/admin/popups/new", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert count() == 0  # nothing written
    assert html.count('class="pp-overlay pp-preview"') == 2  # desktop and phone frames
    assert "pp-frame-desktop" in html and "pp-frame-phone" in html and "promo_popups.css" in html
    assert "Draft &lt;b&gt;title&lt;/b&gt;" in html and "<script>alert(1)" not in html
    assert 'value="Draft &lt;b&gt;title&lt;/b&gt;"' in html  # the form keeps what was typed

    popup = make_popup(title="Saved")
    response = client.post(f"/admin/popups/{popup.id}/edit", data={**data, "title": "Edited, unsaved",
                                                                    "b_enabled": "y", "b_title": "Variant B draft",
                                                                    "preview_variant": "b"})
    assert "Variant B draft" in response.get_data(as_text=True)
    db.session.refresh(popup)
    assert popup.title == "Saved"
    bad = client.post("/admin/popups/new", data={**data, "cta_url": "javascript:alert(1)"})
    assert bad.status_code == 422 and 'id="cta_url-error"' in bad.get_data(as_text=True)
    assert "pp-preview" not in bad.get_data(as_text=True)


def test_preview_shows_the_buyer_markup_in_two_frames(client, enabled, staff):
    popup = make_popup(title="Preview me", body="<p><b>Hi</b></p>", cta_label="Go", cta_url="/sale",
                       b_enabled=True, b_title="Variant B here")
    sign_in(client, staff)
    html = client.get(f"/admin/popups/{popup.id}/preview").get_data(as_text=True)
    assert 'class="pp-frame pp-frame-desktop"' in html and 'class="pp-frame pp-frame-phone"' in html
    assert html.count("Preview me") >= 2 and html.count("<p><b>Hi</b></p>") == 2
    assert "<iframe" not in html and "srcdoc" not in html
    assert "promo_popups.css" in html and "promo_popups.js" not in html  # nothing runs in the preview
    assert "Variant B here" in client.get(f"/admin/popups/{popup.id}/preview?variant=b").get_data(as_text=True)
    # Same partial as the buyer page gets.
    buyer = client.application.test_client().get(PAGES["home"]).get_data(as_text=True)
    assert '<h2 class="pp-title" id="pp-title-' in buyer and "<p><b>Hi</b></p>" in buyer


def test_admin_menu_entry(client, enabled, staff, buyer):
    from flask_login import AnonymousUserMixin

    assert [m.endpoint for m in hooks.admin_menu(staff)] == ["promo_popups_admin.index"]
    assert hooks.admin_menu(buyer) is None and hooks.admin_menu(AnonymousUserMixin()) is None
    sign_in(client, staff)
    assert 'href="/admin/popups/"' in client.get("/admin/popups/").get_data(as_text=True)


def test_csrf_required_on_admin_forms(secure_client, secure_app, app, enabled, staff):
    popup = make_popup(title="Guarded")
    sign_in(secure_client, staff)
    for url, data in (("/admin/popups/new", FORM), (f"/admin/popups/{popup.id}/edit", FORM),
                      (f"/admin/popups/{popup.id}/active", {"active": "0"}), (f"/admin/popups/{popup.id}/delete", {})):
        assert secure_client.post(url, data=data).status_code == 400, url
    db.session.rollback()
    assert count() == 1 and db.session.get(Popup, popup.id).active is True

    token = csrf_token_from(secure_client.get("/admin/popups/new").get_data(as_text=True))
    assert secure_client.post("/admin/popups/new", data={**FORM, "csrf_token": token}).status_code == 302
    listing = secure_client.get("/admin/popups/").get_data(as_text=True)
    token = csrf_token_from(listing)
    assert secure_client.post(f"/admin/popups/{popup.id}/delete", data={"csrf_token": token}).status_code == 302
    db.session.rollback()
    assert count() == 1


def test_disabled_plugin_routes_answer_404(client, enabled, staff):
    popup = make_popup()
    db.session.get(PluginState, "promo_popups").enabled = False
    db.session.commit()
    sign_in(client, staff)
    for method, url in admin_urls(popup.id) + [("post", "/p/popups/event"), ("get", "/p/popups/static/promo_popups.js"),
                                                ("get", "/api/v1/popups/active?page=home")]:
        assert getattr(client, method)(url).status_code == 404, url


def test_demo_data_adds_a_double_11_popup_on_home(client, enabled):
    hooks.demo_data(utcnow())
    db.session.commit()
    services.bump_version()
    db.session.commit()
    popup = db.session.execute(db.select(Popup)).scalar_one()
    assert "Double 11" in popup.title and popup.pages == "home"
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert "Double 11" in html and 'data-pp-trigger="delay"' in html

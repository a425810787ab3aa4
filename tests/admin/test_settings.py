from __future__ import annotations

import pytest

from storefront.audit.models import AuditEntry
from storefront.extensions import db
from storefront.settings import SHOP_DEFAULTS, all_settings
from storefront.settings_models import Setting
from tests.conftest import csrf_token_from

VALID = {
    "shop_name": "Tea House",
    "shop_tagline": "Fresh leaves",
    "logo_url": "https://cdn.example.com/logo.png",
    "footer_text": "Open 9-18",
    "social_weibo": "https://weibo.com/teahouse",
    "social_wechat": "",
    "social_xiaohongshu": "http://xhslink.com/abc",
    "social_bilibili": "",
    "social_zhihu": "",
    "courier_fee": "12.50",
    "unpaid_close_minutes": "45",
    "ship_within_hours": "24",
    "auto_confirm_days": "10",
    "carriers": "SF Express\n  ZTO \n\nSF Express\nEMS",
}


def _fresh_settings(app):
    from flask import g

    g.pop("_shop_settings", None)
    db.session.rollback()  # end the read snapshot: the request committed in another session
    return all_settings()


def test_form_shows_current_values(owner_client):
    html = owner_client.get("/admin/settings").get_data(as_text=True)
    assert 'value="Storefront Demo"' in html
    assert 'value="10.00"' in html  # courier fee as a decimal, not minor units
    assert "SF Express\nZTO" in html


def test_save_settings(app, owner_client, owner):
    response = owner_client.post("/admin/settings", data=VALID)
    assert response.status_code == 302
    values = _fresh_settings(app)
    assert values["shop_name"] == "Tea House"
    assert values["courier_fee"] == 1250
    assert values["unpaid_close_minutes"] == 45
    assert values["carriers"] == ["SF Express", "ZTO", "EMS"]
    assert values["social_xiaohongshu"] == "http://xhslink.com/abc"
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="settings.update")).scalar_one()
    assert entry.actor_id == owner.id
    assert entry.before["courier_fee"] == SHOP_DEFAULTS["courier_fee"]
    assert entry.after["courier_fee"] == 1250
    assert "social_wechat" not in entry.after  # unchanged keys are not logged
    # The footer of every page shows the new links.
    html = owner_client.get("/admin/settings").get_data(as_text=True)
    assert "https://weibo.com/teahouse" in html


def test_saving_unchanged_settings_writes_no_audit_row(app, owner_client):
    owner_client.post("/admin/settings", data=VALID)
    owner_client.post("/admin/settings", data=VALID)
    assert db.session.execute(db.select(db.func.count()).select_from(AuditEntry)).scalar_one() == 1


@pytest.mark.parametrize("field,value", [
    ("shop_name", ""),
    ("logo_url", "javascript:alert(1)"),
    ("social_weibo", "ftp://weibo.com/x"),
    ("social_zhihu", "www.zhihu.com/people/x"),
    ("social_bilibili", "data:text/html,hi"),
    ("courier_fee", "-1"),
    ("courier_fee", "0.001"),
    ("courier_fee", "ten"),
    ("unpaid_close_minutes", "0"),
    ("unpaid_close_minutes", "abc"),
    ("ship_within_hours", ""),
    ("auto_confirm_days", "365"),
    ("carriers", "  \n "),
])
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_saved(app, owner_client, field, value):
    response = owner_client.post("/admin/settings", data={**VALID, field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert db.session.execute(db.select(db.func.count()).select_from(Setting)).scalar_one() == 0
    assert db.session.execute(db.select(db.func.count()).select_from(AuditEntry)).scalar_one() == 0


def test_settings_post_needs_csrf(app, secure_client, owner):
    page = secure_client.get("/account/login").get_data(as_text=True)
    secure_client.post("/account/login", data={"email": owner.email, "password": "correct horse battery",
                                               "csrf_token": csrf_token_from(page)})
    assert secure_client.post("/admin/settings", data=VALID).status_code == 400
    assert _fresh_settings(app)["shop_name"] == SHOP_DEFAULTS["shop_name"]
    token = csrf_token_from(secure_client.get("/admin/settings").get_data(as_text=True))
    assert secure_client.post("/admin/settings", data={**VALID, "csrf_token": token}).status_code == 302
    assert _fresh_settings(app)["shop_name"] == "Tea House"


def test_buyer_cannot_save(app, buyer_client):
    assert buyer_client.post("/admin/settings", data=VALID).status_code == 403
    assert db.session.execute(db.select(db.func.count()).select_from(Setting)).scalar_one() == 0

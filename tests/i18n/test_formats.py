"""Dates in shop time per locale, money per currency and locale, the remembered language switch."""
from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from flask import render_template_string

from storefront.extensions import db
from storefront.i18n import format_money, format_shop_date, format_shop_datetime, short_day
from tests.conftest import csrf_token_from, new_client
from tests.factories import login, make_staff, make_user, sign_in
from tests.notify.helpers import make_order

# 06:05 UTC is 14:05 in the shop's zone (Asia/Shanghai).
MOMENT = datetime(2026, 12, 2, 6, 5)


@pytest.mark.parametrize("lang,expected", [
    ("en", "Dec 2, 2026, 2:05\u202fPM"),  # CLDR puts a narrow no-break space before PM
    ("zh_Hans", "2026年12月2日 14:05"),
    ("vi", "14:05 2 thg 12, 2026"),
])
def test_datetime_in_shop_time_per_locale(app, lang, expected):
    with app.test_request_context(f"/?lang={lang}"):
        assert format_shop_datetime(MOMENT) == expected
        # Every template goes through the same filter, Flask-Babel's names included.
        assert render_template_string("{{ m|datetimeformat('short') }}", m=MOMENT) == expected
        assert render_template_string("{{ m|shopdatetime }}", m=MOMENT) == expected


@pytest.mark.parametrize("lang,expected_date,expected_day", [
    ("en", "Dec 2, 2026", "Dec 2"),
    ("zh_Hans", "2026年12月2日", "12月2日"),
    ("vi", "2 thg 12, 2026", "2 thg 12"),
])
def test_dates_per_locale(app, lang, expected_date, expected_day):
    with app.test_request_context(f"/?lang={lang}"):
        assert format_shop_date(date(2026, 12, 2)) == expected_date
        assert render_template_string("{{ d|dateformat }}", d=date(2026, 12, 2)) == expected_date
        assert short_day(date(2026, 12, 2)) == expected_day


def test_a_moment_late_in_the_utc_day_is_the_next_shop_day(app):
    with app.test_request_context("/?lang=zh_Hans"):
        # 17:00 UTC on 1 December is 01:00 on 2 December in Shanghai.
        assert format_shop_date(datetime(2026, 12, 1, 17, 0)) == "2026年12月2日"
        assert format_shop_datetime(datetime(2026, 12, 1, 17, 0)) == "2026年12月2日 01:00"


def test_other_shop_time_zone(app):
    app.config["STOREFRONT_TIMEZONE"] = "Asia/Ho_Chi_Minh"
    try:
        with app.test_request_context("/?lang=vi"):
            assert format_shop_datetime(MOMENT) == "13:05 2 thg 12, 2026"
    finally:
        app.config["STOREFRONT_TIMEZONE"] = "Asia/Shanghai"


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Asia/Ho_Chi_Minh", "America/New_York", "Australia/Lord_Howe"])
def test_kept_texts_match_flask_babel_in_every_zone_and_locale(app, zone):
    """Dates and short times are formatted once per day and per minute and kept
    (storefront.i18n): every moment must still read as Flask-Babel formats it, across
    daylight-saving changes (New York's hour, Lord Howe's half hour) and day boundaries."""
    from datetime import timedelta, timezone

    from flask_babel import format_date, format_time, refresh

    app.config["STOREFRONT_TIMEZONE"] = zone
    # Every 97 minutes for a year and a bit, plus both sides of each DST change of 2026.
    moments = [datetime(2026, 1, 1) + timedelta(minutes=97 * i) for i in range(5600)]
    moments += [datetime(2026, 3, 8, 6, 59), datetime(2026, 3, 8, 7, 0), datetime(2026, 11, 1, 5, 59),
                datetime(2026, 11, 1, 6, 0), datetime(2026, 4, 4, 14, 59), datetime(2026, 4, 4, 15, 0),
                datetime(2026, 10, 3, 15, 29), datetime(2026, 10, 3, 15, 30)]
    try:
        for lang in ("en", "zh_Hans", "vi"):
            with app.test_request_context(f"/?lang={lang}"):
                refresh()
                joined = {"en": "{d}, {t}", "zh_Hans": "{d} {t}", "vi": "{t} {d}"}[lang]
                for moment in moments:
                    expected = joined.format(d=format_date(moment, "medium"), t=format_time(moment, "short"))
                    assert format_shop_datetime(moment) == expected, (lang, moment)
                    assert format_shop_datetime(moment.replace(tzinfo=timezone.utc)) == expected
                    assert format_shop_date(moment) == format_date(moment, "medium")
                for fmt in ("short", "long", "full", "EEEE d MMMM y"):
                    assert format_shop_date(moments[100], fmt) == format_date(moments[100], fmt)
    finally:
        app.config["STOREFRONT_TIMEZONE"] = "Asia/Shanghai"


def test_shop_time_of_stored_and_aware_moments(app):
    from datetime import timedelta, timezone

    from storefront.clock import utc_to_local

    with app.app_context():  # Asia/Shanghai, UTC+8
        assert utc_to_local(datetime(2026, 12, 1, 17, 0)) == datetime(2026, 12, 2, 1, 0)
        assert utc_to_local(datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)) == datetime(2026, 12, 2, 1, 0)
        hanoi = timezone(timedelta(hours=7))
        assert utc_to_local(datetime(2026, 12, 2, 0, 0, tzinfo=hanoi)) == datetime(2026, 12, 2, 1, 0)
        assert utc_to_local(None) is None


def test_empty_dates_are_blank(app):
    with app.test_request_context("/"):
        assert format_shop_datetime(None) == "" and format_shop_date(None) == ""
        assert render_template_string("{{ none|datetimeformat('short') }}", none=None) == ""


@pytest.mark.parametrize("lang,amount,currency,expected", [
    ("vi", 1250000, "VND", "1.250.000\xa0₫"),   # no minor unit shown for đồng
    ("zh_Hans", 1250000, "VND", "₫1,250,000"),
    ("en", 1250000, "VND", "₫1,250,000"),
    ("vi", 12345, "CNY", "123,45\xa0CN¥"),
    ("zh_Hans", 12345, "CNY", "¥123.45"),
])
def test_money_per_currency_and_locale(app, lang, amount, currency, expected):
    with app.test_request_context(f"/?lang={lang}"):
        assert format_money(amount, currency) == expected


def test_order_page_shows_local_dates(client, app):
    buyer = make_user()
    order = make_order(buyer, placed_at=MOMENT, ship_by=datetime(2026, 12, 4, 6, 5))
    login(client, buyer)
    html = client.get(f"/orders/{order.number}?lang=zh_Hans").get_data(as_text=True)
    assert "2026年12月4日 14:05" in html
    assert not re.search(r"2026-12-0\d \d\d:\d\d", html)  # no raw strftime/isoformat on the page


# Language switcher -----------------------------------------------------------

def test_anonymous_switcher_is_a_get_form_without_js(client):
    html = client.get("/").get_data(as_text=True)
    form = html.split('<form class="lang"', 1)[1].split("</form>", 1)[0]
    assert 'method="get"' in form and 'name="lang"' in form and "<noscript><button" in form
    html = client.get("/?lang=vi").get_data(as_text=True)
    assert 'lang="vi"' in html


def test_signed_in_switch_is_stored_on_the_account(app, client):
    user = make_user()
    login(client, user)
    html = client.get("/cart/?x=1&lang=en").get_data(as_text=True)
    form = html.split('<form class="lang"', 1)[1].split("</form>", 1)[0]
    assert 'method="post"' in form and 'name="csrf_token"' in form
    response = client.post("/language/", data={"lang": "zh_Hans", "next": "/cart/?x=1&lang=en",
                                               "csrf_token": csrf_token_from(html)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/cart/?x=1")  # ?lang= dropped, or it would switch back
    db.session.expire_all()
    assert db.session.get(type(user), user.id).locale == "zh_Hans"
    # Another device: a fresh session, no Accept-Language; the account's choice applies.
    other = new_client(app)
    login(other, user)
    assert 'lang="zh-Hans"' in other.get("/").get_data(as_text=True)


def test_switch_rejects_unknown_language_and_foreign_redirects(app, client):
    user = make_staff()
    login(client, user)
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post("/language/", data={"lang": "xx", "csrf_token": token}).status_code == 400
    db.session.expire_all()
    assert db.session.get(type(user), user.id).locale is None
    response = client.post("/language/", data={"lang": "vi", "next": "//evil.example/x", "csrf_token": token})
    assert response.status_code == 303 and "evil" not in response.headers["Location"]
    response = client.post("/language/", data={"lang": "vi", "next": "https://evil.example/", "csrf_token": token})
    assert "evil" not in response.headers["Location"]


def test_switch_needs_csrf(secure_client):
    user = make_user()
    sign_in(secure_client, user)
    response = secure_client.post("/language/", data={"lang": "vi"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(type(user), user.id).locale is None


def test_anonymous_post_only_sets_the_session(client):
    # (CSRF is off on this test app; test_switch_needs_csrf checks it on the secure one.)
    response = client.post("/language/", data={"lang": "vi", "next": "/"})
    assert response.status_code == 303
    with client.session_transaction() as session:
        assert session["locale"] == "vi"

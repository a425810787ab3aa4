"""Locale choice, translated pages and money formatting per locale."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po, write_po
from flask_babel import get_locale

from storefront.extensions import db
from storefront.i18n import TRANSLATIONS_DIR, compile_catalogs, format_money, select_locale
from tests.factories import login, make_staff


def _locale(app, path="/", **headers) -> str:
    with app.test_request_context(path, headers=headers):
        return select_locale()


@pytest.mark.parametrize("header,expected", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
    ("zh-Hans", "zh_Hans"),
    ("zh", "zh_Hans"),
    ("vi-VN,vi;q=0.9", "vi"),
    ("vi", "vi"),
    ("en-US", "en"),
    ("zh-TW", "en"),  # Traditional Chinese is not offered: fall back to the default
    ("fr-FR", "en"),
    ("de, vi;q=0.5", "vi"),
])
def test_accept_language(app, header, expected):
    assert _locale(app, **{"Accept-Language": header}) == expected


def test_query_beats_header(app):
    assert _locale(app, "/?lang=vi", **{"Accept-Language": "zh-CN"}) == "vi"
    assert _locale(app, "/?lang=xx", **{"Accept-Language": "zh-CN"}) == "zh_Hans"


def test_no_request_means_default_locale(app):
    assert select_locale() == "en"


def test_query_choice_is_remembered_in_the_session(client):
    html = client.get("/?lang=zh_Hans").get_data(as_text=True)
    assert "购物车" in html and "搜索商品" in html
    with client.session_transaction() as session:
        assert session["locale"] == "zh_Hans"
    html = client.get("/", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "购物车" in html and 'lang="zh-Hans"' in html
    html = client.get("/?lang=en").get_data(as_text=True)
    assert ">Cart<" in html


def test_accept_language_vietnamese_page(client):
    html = client.get("/", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "Giỏ hàng" in html and "Đăng nhập" in html and 'lang="vi"' in html


def test_english_by_default(client):
    html = client.get("/").get_data(as_text=True)
    assert ">Cart<" in html and "购物车" not in html


def test_signed_in_users_preferred_locale(app, client):
    staff = make_staff()
    staff.locale = "zh_Hans"
    db.session.commit()
    login(client, staff)
    html = client.get("/admin/").get_data(as_text=True)
    assert "概览" in html and "待发货" in html  # "Dashboard", "To ship"


def test_admin_pages_in_vietnamese(app, client):
    login(client, make_staff(role="owner"))
    html = client.get("/admin/settings?lang=vi").get_data(as_text=True)
    assert "Cài đặt cửa hàng" in html and "Phí giao hàng" in html


@pytest.mark.parametrize("lang,amount,currency,expected", [
    ("en", 9900, None, "CN¥99.00"),
    ("zh_Hans", 9900, None, "¥99.00"),
    ("zh_Hans", -1000, None, "-¥10.00"),
    ("vi", 99000, "VND", "99.000\xa0₫"),
    ("en", 99000, "VND", "₫99,000"),
])
def test_money_per_locale(app, lang, amount, currency, expected):
    with app.test_request_context(f"/?lang={lang}"):
        assert str(get_locale()) == lang
        assert format_money(amount, currency) == expected


def test_money_filter_in_templates(app):
    from flask import render_template_string

    with app.test_request_context("/?lang=zh_Hans"):
        assert render_template_string("{{ 12345|money }}") == "¥123.45"


def _write_po(path: Path, locale: str, translation: str) -> None:
    catalog = Catalog(locale=locale)
    catalog.add("Cart", translation)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        write_po(fh, catalog)


def _mo_string(path: Path) -> str:
    with open(path, "rb") as fh:
        return read_mo(fh).get("Cart").string


def test_compile_catalogs_recompiles_a_stale_mo(tmp_path):
    source, target = tmp_path / "src", tmp_path / "out"
    po = source / "vi" / "LC_MESSAGES" / "messages.po"
    mo = target / "vi" / "LC_MESSAGES" / "messages.mo"
    _write_po(po, "vi", "Giỏ")
    compile_catalogs([source], target)
    assert _mo_string(mo) == "Giỏ"

    # Up to date: not rewritten.
    before = mo.stat().st_mtime_ns
    compile_catalogs([source], target)
    assert mo.stat().st_mtime_ns == before

    # The catalog changes after the .mo was built: the .mo is stale and rebuilt.
    _write_po(po, "vi", "Giỏ hàng")
    future = time.time() + 10
    os.utime(po, (future, future))
    compile_catalogs([source], target)
    assert _mo_string(mo) == "Giỏ hàng"
    assert not list(mo.parent.glob("*.tmp"))


def test_app_start_compiles_into_the_instance_folder(app):
    compiled = Path(app.instance_path) / "translations"
    for locale in ("zh_Hans", "vi"):
        assert (compiled / locale / "LC_MESSAGES" / "messages.mo").is_file()


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


@pytest.mark.parametrize("locale", ["zh_Hans", "vi"])
def test_translations_keep_their_placeholders(locale):
    """A translation that drops or renames %(name)s would crash the page at runtime."""
    with open(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale=locale)
    bad = []
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        wanted = sorted(set(PLACEHOLDER.findall(ids[-1])))
        for string in strings:
            if string and sorted(set(PLACEHOLDER.findall(string))) != wanted:
                bad.append((message.id, string))
    assert not bad


@pytest.mark.parametrize("locale", ["zh_Hans", "vi"])
def test_most_visible_strings_are_translated(locale):
    with open(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale=locale)
    for text in ("Cart", "Sign in", "Checkout", "Add to cart", "Awaiting payment", "Paid, awaiting shipment",
                 "Shipped", "Completed", "Closed", "Total", "Place order and pay", "My orders"):
        message = catalog.get(text)
        assert message is not None and message.string and not message.fuzzy, text


def test_user_content_is_not_translated(client, app):
    # A product called like a UI string stays as the seller wrote it.
    from tests.factories import make_product

    make_product(name="Cart")
    html = client.get("/?lang=zh_Hans").get_data(as_text=True)
    assert "Cart" in html


def test_catalog_template_covers_python_html_and_email_templates():
    """babel.cfg extracts .py, .html and the plain-text e-mail templates (.txt)."""
    with open(TRANSLATIONS_DIR / "messages.pot", "rb") as fh:
        template = read_po(fh)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    assert "Awaiting payment" in ids  # storefront/orders/status.py (_l)
    assert "Skip to content" in ids  # templates/storefront/base.html
    assert "It will ship soon." in ids  # templates/notify/order_paid.txt


def test_the_locale_name_follows_a_forced_or_refreshed_locale(app):
    """babel_locale_name() is remembered beside the locale: a forced locale (a buyer's
    message) and a refreshed one are named anew, and money follows them."""
    from flask_babel import force_locale, refresh

    from storefront.i18n import babel_locale_name

    with app.test_request_context("/?lang=vi"):
        assert babel_locale_name() == babel_locale_name() == "vi"
        with force_locale("zh_Hans"):
            assert babel_locale_name() == "zh_Hans" and format_money(12345, "CNY") == format_money(12345, "CNY")
            assert "¥" in format_money(12345, "CNY")
        assert babel_locale_name() == "vi"
    with app.test_request_context("/?lang=en"):
        refresh()
        assert babel_locale_name() == "en"
    with app.app_context():  # a worker, no request: the default
        assert babel_locale_name() == "en"


def test_requests_inside_one_app_context_each_choose_their_language(app):
    """A request served inside an outer app context (a host app's, a test's) shares its
    ``g``, where Flask-Babel keeps the locale it chose: each request must choose again.
    (Flask's own test client, not the suite's, which gives each request its own context.)"""
    client = app.test_client()
    with app.app_context():
        first = client.get("/?lang=vi").get_data(as_text=True)
        second = client.get("/?lang=zh_Hans").get_data(as_text=True)
        third = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="vi"' in first and "Giỏ hàng" in first
    assert 'lang="zh-Hans"' in second and "购物车" in second and "Giỏ hàng" not in second
    assert 'lang="en"' in third and ">Cart<" in third


def test_each_request_has_a_fresh_language_without_an_outer_context(client):
    assert 'lang="vi"' in client.get("/?lang=vi").get_data(as_text=True)
    assert 'lang="zh-Hans"' in client.get("/?lang=zh_Hans").get_data(as_text=True)

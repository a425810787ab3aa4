"""A popup linked to a real coupon (both plugins installed): the Claim button, and the popup
stops showing once the coupon's claim quota runs out, without an import between the plugins."""
from __future__ import annotations

import pytest
from sqlalchemy import event

import plugins.coupons.models  # noqa: F401  (tables in the metadata before the schema is created)
from plugins.coupons import admin_services as coupons_admin
from plugins.coupons.models import Coupon
from plugins.promo_popups.targeting import clear_cache
from storefront.extensions import db
from tests.conftest import make_app_keeping_limits, pushed_app
from tests.factories import make_user, set_plugin_state, sign_in

from .conftest import PAGE_ENDPOINTS, PAGES, _client, _prepare, make_popup


@pytest.fixture(scope="session")
def _linked_app(_app, database_url, instance_dir):
    return _prepare(make_app_keeping_limits(database_url, instance_dir,
                                  STOREFRONT_PLUGINS=["plugins.promo_popups", "plugins.coupons"],
                                  PROMO_POPUPS_PAGE_ENDPOINTS=PAGE_ENDPOINTS))


@pytest.fixture
def linked(app, _linked_app):
    with pushed_app(_linked_app):
        clear_cache()
        _linked_app.extensions.pop("coupons_claimables", None)
        set_plugin_state("promo_popups")
        set_plugin_state("coupons")
        yield _linked_app


def _coupon(**data):
    values = {"name": "¥10 off", "kind": "fixed", "amount": 1000, "code": "D11-10", "claimable": True,
              "claim_quota": 1, "per_buyer_limit": 1}
    values.update(data)
    return coupons_admin.create_coupon(values)


def test_claim_button_then_claimed_out_popup_disappears(linked):
    coupon = _coupon()
    make_popup(title="Claim ten", coupon_code="d11-10")
    first, second = make_user(), make_user()
    web, other = _client(linked), _client(linked)
    sign_in(web, first)
    sign_in(other, second)
    html = web.get(PAGES["home"]).get_data(as_text=True)
    assert ">Claim ten</h2>" in html and 'action="/p/coupons/claim"' in html and "data-pp-claim" in html
    assert f'name="coupon_id" value="{coupon.id}"' in html
    assert ">Claim ten</h2>" in other.get(PAGES["home"]).get_data(as_text=True)

    response = web.post("/p/coupons/claim", data={"coupon_id": coupon.id, "coupons_next": PAGES["home"]})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).claimed == 1
    # No cache clearing here: the claim that took the last one invalidated it.
    assert "data-pp-popup" not in other.get(PAGES["home"]).get_data(as_text=True)
    assert "data-pp-popup" not in web.get(PAGES["home"]).get_data(as_text=True)


def test_quota_left_keeps_the_popup_and_a_paused_coupon_hides_it(linked):
    coupon = _coupon(claim_quota=5)
    make_popup(title="Claim ten", coupon_code="D11-10")
    buyer = make_user()
    web = _client(linked)
    sign_in(web, buyer)
    web.post("/p/coupons/claim", data={"coupon_id": coupon.id})
    assert ">Claim ten</h2>" in _client(linked).get(PAGES["home"]).get_data(as_text=True)
    coupons_admin.set_active(coupon.id, False)
    assert "data-pp-popup" not in _client(linked).get(PAGES["home"]).get_data(as_text=True)


def test_without_the_coupons_plugin_the_popup_shows_without_a_button(linked):
    _coupon()
    make_popup(title="Claim ten", coupon_code="D11-10")
    set_plugin_state("coupons", False)
    html = _client(linked).get(PAGES["home"]).get_data(as_text=True)
    assert ">Claim ten</h2>" in html and "data-pp-claim" not in html


def test_unknown_code_shows_the_popup_without_a_button(linked):
    make_popup(title="Typo", coupon_code="NOSUCH")
    html = _client(linked).get(PAGES["home"]).get_data(as_text=True)
    assert ">Typo</h2>" in html and "data-pp-claim" not in html


def test_warm_page_queries_neither_popups_nor_coupons(linked):
    _coupon(claim_quota=5)
    make_popup(title="Claim ten", coupon_code="D11-10")
    web = _client(linked)
    sign_in(web, make_user())
    web.get(PAGES["home"])  # fills both caches
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        html = web.get(PAGES["home"]).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert "data-pp-claim" in html
    assert not [s for s in statements if "promo_popups_" in s or "coupons_" in s], statements

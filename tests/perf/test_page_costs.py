"""Product, cart and checkout pages and the flash sale's first API steps (issue 9): statement
counts of the API steps, and the caches behind the page counts stay correct.

Settings come with the plugin states in one round trip but still once per request; the
coupon boxes' claimable coupons are kept per process until the coupons plugin's version stamp
moves; money strings and pickup-slot options are kept per process as pure functions of their
inputs.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import force_locale

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.i18n import format_money
from storefront.settings import set_settings
from tests.checkout.helpers import api_token
from tests.conftest import new_client
from tests.factories import make_user, sign_in

from .conftest import count_queries, give_cart


# -- API steps of the flash sale ----------------------------------------------------------------

def test_add_line_answers_the_priced_cart_without_reloading_it_twice(app, shop):
    headers = api_token(make_user())
    client = new_client(app)
    sku = shop["plain"][0].skus[0]
    client.get("/api/v1/cart", headers=headers)  # per-process caches warm, as in a running shop
    with count_queries() as seen:
        response = client.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 2}, headers=headers)
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 201
    body = response.get_json()
    assert body["item_count"] == 2 and body["breakdown"]["lines"][0]["sku_id"] == sku.id
    assert body == client.get("/api/v1/cart", headers=headers).get_json()  # the same answer as a fresh read
    assert not seen.matching(r"FROM users WHERE")  # the buyer is not reloaded after the cart's commits
    assert not seen.matching(r"FROM carts WHERE carts.id")  # nor the new cart, only to learn its id
    assert not seen.matching(r"FROM product_images")
    assert len(seen) <= 17


def test_apply_code_writes_the_choice_without_rereading_the_cart(app, shop):
    from plugins.coupons import admin_services

    admin_services.create_coupon({"name": "Five off", "kind": "fixed", "amount": 500, "code": "FIVE"})
    buyer = make_user()
    give_cart(buyer, [shop["plain"][0].skus[0]])
    headers = api_token(buyer)
    client = new_client(app)
    with count_queries() as seen:
        response = client.post("/api/v1/coupons/apply", json={"code": "five"}, headers=headers)
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 200 and response.get_json()["name"] == "Five off"
    assert not seen.matching(r"FROM store_pickup")  # only a shipping coupon needs the delivery options
    assert not seen.matching(r"^SELECT cart_lines\.")
    assert len(seen) <= 11
    cart = client.get("/api/v1/cart", headers=headers).get_json()
    assert [a["source"] for a in cart["breakdown"]["adjustments"]].count("coupons") == 1
    assert cart["breakdown"]["total"]["amount"] < cart["breakdown"]["subtotal"]["amount"] + 1000


# -- settings read with the plugin states --------------------------------------------------------

def test_settings_are_read_again_by_every_request(app, shop):
    client = new_client(app)
    product = shop["plain"][0]
    assert "Storefront Demo" in client.get(f"/products/{product.slug}").get_data(as_text=True)
    set_settings({"shop_name": "Renamed Shop"})  # as another worker would: committed, no signal
    db.session.commit()
    assert "Renamed Shop" in client.get(f"/products/{product.slug}").get_data(as_text=True)


# -- the coupon boxes' claimable coupons -----------------------------------------------------------

def test_claim_box_follows_staff_edits_at_once(app, shop):
    from plugins.coupons import admin_services

    client = new_client(app)
    page = f"/products/{shop['plain'][0].slug}"
    assert "Ten off" in client.get(page).get_data(as_text=True)
    admin_services.set_active(shop["coupon"].id, False)
    db.session.commit()
    assert "Ten off" not in client.get(page).get_data(as_text=True)


def test_claim_box_drops_a_coupon_whose_quota_ran_out(app, shop):
    from plugins.coupons import admin_services
    from plugins.coupons.services import claim

    coupon = admin_services.create_coupon({"name": "Last one", "kind": "fixed", "amount": 300,
                                           "claimable": True, "claim_quota": 1})
    db.session.commit()
    client = new_client(app)
    page = f"/products/{shop['plain'][0].slug}"
    assert "Last one" in client.get(page).get_data(as_text=True)
    claim(make_user(), coupon.id)
    db.session.commit()
    assert "Last one" not in client.get(page).get_data(as_text=True)


def test_claim_box_hides_a_coupon_whose_window_closed_without_any_write(app, shop):
    """An end time passing writes nothing (no stamp moves): live-ness is decided per call."""
    from plugins.coupons import admin_services
    from plugins.coupons.claimables import offered_coupons

    ends = utcnow() + timedelta(minutes=5)
    admin_services.update_coupon(shop["coupon"].id, {"name": "Ten off", "kind": "fixed", "amount": 1000,
                                                     "per_buyer_limit": 2, "claimable": True, "ends_at": ends})
    db.session.commit()
    with app.test_request_context("/"):
        assert "Ten off" in [c.name for c in offered_coupons()]
        assert "Ten off" not in [c.name for c in offered_coupons(now=ends + timedelta(seconds=1))]


def test_each_buyer_sees_their_own_claimed_counts(app, shop):
    """The cached list is the same for everyone; what a buyer may still claim is theirs."""
    first, second = new_client(app), new_client(app)
    sign_in(first, shop["buyer"])
    other = make_user()
    sign_in(second, other)
    page = f"/products/{shop['plain'][0].slug}"
    assert "Ten off" in second.get(page).get_data(as_text=True)
    from plugins.coupons.services import claim

    claim(other, shop["coupon"].id)
    claim(other, shop["coupon"].id)  # per-buyer limit 2: none left for them
    db.session.commit()
    assert "Ten off" not in second.get(page).get_data(as_text=True)
    first_html = first.get(page).get_data(as_text=True)
    assert "Ten off" in first_html  # the shop buyer claimed one of two


# -- per-process formatting caches ------------------------------------------------------------------

def test_money_strings_follow_the_locale(app):
    with app.test_request_context("/"):
        with force_locale("en"):
            english = format_money(123456, "CNY")
        with force_locale("vi"):
            vietnamese = format_money(123456, "CNY")
        with force_locale("en"):
            assert format_money(123456, "CNY") == english
        assert english != vietnamese
        assert format_money(123456, "VND") != english


def test_remembered_translations_follow_every_change_of_locale(app):
    """The templates' translations are remembered per context and locale
    (storefront.i18n.current_translations): a forced or refreshed locale answers anew, and
    agrees with Flask-Babel's gettext and lazy labels."""
    from flask import session
    from flask_babel import gettext, lazy_gettext, refresh

    from storefront.i18n import current_translations

    label = lazy_gettext("Sold out")
    with app.test_request_context("/?lang=zh_Hans"):
        assert gettext("Sold out") == str(label) == current_translations().ugettext("Sold out") == "已售罄"
        with force_locale("vi"):
            assert gettext("Sold out") == str(label) == current_translations().ugettext("Sold out") == "Hết hàng"
            with force_locale("en"):
                assert gettext("Sold out") == str(label) == "Sold out"
            assert gettext("Sold out") == "Hết hàng"
        assert gettext("Sold out") == current_translations().ugettext("Sold out") == "已售罄"
    with app.test_request_context("/", headers={"Accept-Language": "vi"}):
        refresh()  # as the app's before_request does: this test's requests share one app context
        assert gettext("Sold out") == "Hết hàng"
        session["locale"] = "zh_Hans"
        refresh()
        assert gettext("Sold out") == str(label) == current_translations().ugettext("Sold out") == "已售罄"
    with app.app_context():  # a worker: the default locale
        assert gettext("Sold out") == "Sold out"
        with force_locale("zh_Hans"):
            assert gettext("Sold out") == "已售罄"


def test_pickup_slot_options_mark_only_the_chosen_slot(app):
    from types import SimpleNamespace

    from plugins.store_pickup.render import mark_selected, slot_options
    from plugins.store_pickup.slots import Slot

    start = datetime(2026, 12, 2, 10, 0)
    slots = [Slot(7, start + timedelta(hours=i), start + timedelta(hours=i + 1),
                  start + timedelta(hours=i + 8), start + timedelta(hours=i + 9)) for i in range(2)]
    options = slot_options(SimpleNamespace(name="A&B <store>"), slots)
    html = str(mark_selected(options, slots[1].key))
    assert html == (
        '<option value="7@2026-12-02T18:00">A&amp;B &lt;store&gt; · 2026-12-02 18:00–19:00</option>'
        '<option value="7@2026-12-02T19:00" selected>A&amp;B &lt;store&gt; · 2026-12-02 19:00–20:00</option>')
    renamed = str(slot_options(SimpleNamespace(name="C"), slots))
    assert "A&amp;B" not in renamed and "selected" not in renamed
    # The store's list is kept whole and unmarked: asked again it is the same list, and
    # marking another choice marks only that one; a choice it does not offer marks nothing.
    again = slot_options(SimpleNamespace(name="A&B <store>"), slots)
    assert "selected" not in again
    assert str(mark_selected(again, slots[0].key)) == html.replace(" selected", "").replace('T18:00"', 'T18:00" selected')
    assert str(mark_selected(again, "7@2026-12-02T20:00")) == str(again)
    assert str(mark_selected(again, "")) == str(again)
    # A posted value is escaped before it is looked for: it cannot close the attribute.
    assert "selected" not in mark_selected(again, '7@2026-12-02T18:00"><script>')


def test_pickup_slot_options_follow_a_changed_slot_length(app):
    """One slot that starts at the same time but ends later (a longer slot length) is a
    different list: the kept markup is keyed by the slots' ends too."""
    from types import SimpleNamespace

    from plugins.store_pickup import render
    from plugins.store_pickup.slots import Slot

    store = SimpleNamespace(name="D")
    start = datetime(2026, 12, 3, 2, 0)
    hour = [Slot(8, start, start + timedelta(hours=1), start + timedelta(hours=8), start + timedelta(hours=9))]
    two = [Slot(8, start, start + timedelta(hours=2), start + timedelta(hours=8), start + timedelta(hours=10))]
    assert "10:00–11:00" in str(render.slot_options(store, hour))
    assert "10:00–12:00" in str(render.slot_options(store, two))


def test_pickup_slot_option_lists_are_bounded(app, monkeypatch):
    from types import SimpleNamespace

    from plugins.store_pickup import render
    from plugins.store_pickup.slots import Slot

    monkeypatch.setattr(render, "MAX_OPTION_LISTS", 2)
    monkeypatch.setattr(render, "_OPTION_LISTS", {})
    start = datetime(2026, 12, 4, 2, 0)
    for n in range(5):
        slot = Slot(9, start, start + timedelta(hours=1), start + timedelta(hours=8), start + timedelta(hours=9))
        render.slot_options(SimpleNamespace(name=f"store {n}"), [slot])
        assert len(render._OPTION_LISTS) <= 2

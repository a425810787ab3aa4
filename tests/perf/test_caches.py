"""The per-request caches behind the query counts stay correct (issue 9).

Plugin states are read once per request as plain values; a switch made
elsewhere (another worker, the owner's page) takes effect on the next
request, and a write in the same context is seen at once. The request memo
never outlives its request. Cart, wallet, presale and pickup look-ups are
memoised per request and dropped where the request writes them.
"""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text

from storefront.admin.shell_services import set_plugin_enabled
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.plugins import forget_request_memo, request_memo
from storefront.plugins.host import get_host
from tests.checkout.helpers import api_token
from tests.conftest import new_client
from tests.factories import make_staff, sign_in

from .conftest import give_cart


# -- plugin states -----------------------------------------------------------------------------

def test_switch_takes_effect_on_next_request_without_restart(app, shop):
    client = new_client(app)
    sign_in(client, shop["buyer"])
    assert client.get("/p/coupons/wallet").status_code == 200
    set_plugin_enabled("coupons", False, actor=make_staff(role="owner"))
    db.session.commit()
    assert client.get("/p/coupons/wallet").status_code == 404
    # Another "worker" (plain SQL, no host call) switches it back: seen on the next request.
    db.session.execute(text("UPDATE plugin_states SET enabled = :on, version = version + 1 WHERE name = 'coupons'"),
                       {"on": True})
    db.session.commit()
    assert client.get("/p/coupons/wallet").status_code == 200


def test_snapshot_is_plain_values_that_survive_commits(app, shop):
    host = get_host()
    with app.test_request_context("/"):
        with_count = []
        host.is_enabled("coupons")
        db.session.commit()  # expired ORM rows used to be reloaded here, one SELECT per plugin
        from sqlalchemy import event

        def on_execute(*_args):
            with_count.append(1)

        event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            assert host.is_enabled("coupons") and host.enabled_names() >= {"coupons", "presale"}
            assert host.settings("coupons")["return_on_close"] is True
            assert host.states()["coupons"].enabled is True
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)
        assert with_count == []


def test_own_write_is_seen_at_once_and_a_rollback_is_not(app, shop):
    host = get_host()
    with app.test_request_context("/"):
        assert host.is_enabled("presale")
        db.session.execute(text("UPDATE plugin_states SET enabled = :off WHERE name = 'presale'"), {"off": False})
        assert not host.is_enabled("presale")  # the write dropped the snapshot
        assert "presale" not in {impl.plugin_name for impl in host.caller("product_offer").get_hookimpls()}
        db.session.rollback()
        assert host.is_enabled("presale")  # the rollback dropped what was read meanwhile


def test_snapshot_is_per_app_context(app, shop):
    host = get_host()
    assert host.is_enabled("coupons")
    seen = []

    def other_worker():
        with app.app_context():
            db.session.execute(text("UPDATE plugin_states SET enabled = :off WHERE name = 'coupons'"),
                               {"off": False})
            db.session.commit()
            seen.append(get_host().is_enabled("coupons"))
            db.session.remove()

    thread = threading.Thread(target=other_worker)
    thread.start()
    thread.join()
    assert seen == [False]
    with app.app_context():  # a new request/job reads the new state
        assert not get_host().is_enabled("coupons")


# -- the request memo ---------------------------------------------------------------------------

def test_request_memo_lives_exactly_one_request(app):
    assert request_memo("x") is None  # outside a request: nothing is kept
    with app.test_request_context("/"):
        request_memo("x")["a"] = 1
        assert request_memo("x") == {"a": 1}
        forget_request_memo("x")
        assert request_memo("x") == {}
        request_memo("x")["a"] = 2
    with app.test_request_context("/"):  # same app context pushed by the fixture, new request
        assert request_memo("x") == {}


# -- cart memo: ownership and writes ----------------------------------------------------------------

def test_each_buyer_sees_only_their_own_cart(app, shop):
    from tests.factories import make_user

    other = make_user()
    give_cart(shop["buyer"], [shop["plain"][0].skus[0]])
    give_cart(other, [shop["plain"][1].skus[0]])
    mine, theirs = new_client(app), new_client(app)
    sign_in(mine, shop["buyer"])
    sign_in(theirs, other)
    assert shop["plain"][0].name in mine.get("/cart/").get_data(as_text=True)
    html = theirs.get("/cart/").get_data(as_text=True)
    assert shop["plain"][1].name in html and shop["plain"][0].name not in html


def test_api_cart_reflects_the_write_of_the_same_request(app, shop):
    headers = api_token(shop["buyer"])
    client = new_client(app)
    first = client.post("/api/v1/cart/lines", json={"sku_id": shop["plain"][0].skus[0].id, "quantity": 2},
                        headers=headers)
    assert first.status_code == 201 and first.get_json()["item_count"] == 2
    second = client.post("/api/v1/cart/lines", json={"sku_id": shop["plain"][1].skus[0].id, "quantity": 1},
                         headers=headers)
    assert second.status_code == 201 and second.get_json()["item_count"] == 3
    assert len(second.get_json()["breakdown"]["lines"]) == 2


def test_bad_input_changes_nothing(app, shop):
    headers = api_token(shop["buyer"])
    client = new_client(app)
    assert client.post("/api/v1/cart/lines", json={"sku_id": 999999, "quantity": 1},
                       headers=headers).status_code == 404
    assert client.post("/api/v1/cart/lines", json={"sku_id": "x", "quantity": 1},
                       headers=headers).status_code == 422
    assert client.get("/api/v1/cart", headers=headers).get_json()["item_count"] == 0
    assert client.get("/api/v1/cart").status_code == 401  # no token: no cart


# -- presale batch look-up ---------------------------------------------------------------------------

def test_batched_campaigns_match_the_single_lookup(app, shop):
    from plugins.presale.lookup import campaign_for_sku, campaigns_for_skus

    skus = shop["presale"].skus
    batch = campaigns_for_skus([s.id for s in skus] + [shop["plain"][0].skus[0].id])
    assert set(batch) == {skus[0].id, skus[1].id}
    for sku in skus:
        single = campaign_for_sku(sku.id)
        expected = (batch[sku.id][0].id, batch[sku.id][1].id) if sku.id in batch else None
        assert ((single[0].id, single[1].id) if single else None) == expected
    assert campaigns_for_skus([]) == {}


def test_memoised_campaign_that_ends_counts_as_none(app, shop):
    from plugins.presale.lookup import campaign_for_sku

    sku_id = shop["presale"].skus[0].id
    with app.test_request_context("/"):
        campaign, _quota = campaign_for_sku(sku_id)
        assert campaign_for_sku(sku_id, campaign.ends_at + timedelta(seconds=1)) is None
        assert campaign_for_sku(sku_id, utcnow())[0].id == campaign.id


def test_campaign_edit_in_the_request_is_seen(app, shop):
    from plugins.presale import campaigns
    from plugins.presale.lookup import campaign_for_sku

    sku = shop["presale"].skus[2]
    with app.test_request_context("/"):
        assert campaign_for_sku(sku.id) is None
        now = utcnow()
        campaigns.create_campaign({
            "product_id": shop["presale"].id, "mode": "full", "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=2), "promise_kind": "days", "ship_within_days": 10,
            "quotas": {sku.id: 5}}, None)
        assert campaign_for_sku(sku.id) is not None


# -- pickup slots ----------------------------------------------------------------------------------

def test_slots_of_many_locations_match_one_by_one_and_full_slots_go(app, shop):
    from plugins.store_pickup import services
    from plugins.store_pickup.models import SlotUsage

    second = services.create_location({"name": "Xuhui store", "address": "1 Hengshan Road", "city": "Shanghai",
                                       "province": "Shanghai", "phone": "", "map_url": "",
                                       "hours": {"0": "10:00-12:00", "1": "10:00-12:00", "2": "10:00-12:00",
                                                 "3": "10:00-12:00", "4": "10:00-12:00", "5": "10:00-12:00",
                                                 "6": "10:00-12:00"},
                                       "prep_minutes": 0, "slot_minutes": 30, "slot_capacity": 1})
    locations = services.list_locations(active_only=True)
    now = utcnow()
    together = services.available_slots_for(locations, now)
    for loc in locations:
        assert together[loc.id] == services.available_slots(loc, now)
    assert together[second.id]
    full = together[second.id][0]
    db.session.add(SlotUsage(location_id=second.id, slot_start=full.start, used=1))
    db.session.commit()
    assert full not in services.available_slots_for(locations, now)[second.id]
    assert services.available_slots_for([], now) == {}

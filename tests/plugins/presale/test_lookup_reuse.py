"""A worker's copies of "which presale is this SKU on" (plugins/presale/reuse.py): which
requests skip the query, and how a sale, a staff edit or a new campaign, made in this
worker, in another worker of the host or from elsewhere, reaches the next request."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from plugins.presale import lookup, reuse
from plugins.presale.models import Campaign
from storefront.clock import utcnow
from storefront.extensions import db
from tests.factories import make_product, make_user, write_behind_sqlalchemys_back
from tests.fresh_worker import run_as_another_worker
from tests.perf.conftest import count_queries

from .conftest import checkout, full_campaign, new_client



@pytest.fixture
def clock(app, enabled, monkeypatch):
    """The window's clock, standing still unless a test moves it."""
    now = [1000.0]
    monkeypatch.setattr(reuse, "_now", lambda: now[0])
    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 1)
    held = app.extensions.get(reuse.EXTENSION_KEY)
    if held is not None:  # the app outlives a test; the copies must not
        held.clear()
    return now


def _terms(app, product):
    """The product's presale terms (the API reads them through the look-up) and the number of
    campaign queries the request sent."""
    with count_queries() as seen:
        response = new_client(app).get(f"/api/v1/presale/products/{product.slug}")
    assert response.status_code == 200
    return response.get_json(), len(seen.matching(r"FROM presale_campaigns"))


def test_the_next_request_takes_the_campaigns_from_the_copy_until_the_window_passes(app, clock):
    _c, product = full_campaign(quota=10)
    assert _terms(app, product)[1] == 1
    terms, queries = _terms(app, product)
    assert queries == 0 and terms[0]["remaining"] == 10
    clock[0] += 0.99
    assert _terms(app, product)[1] == 0
    clock[0] += 0.02  # one second since the read: read again, then reused again
    assert _terms(app, product)[1] == 1
    assert _terms(app, product)[1] == 0


def test_zero_seconds_reads_on_every_request(app, clock, monkeypatch):
    _c, product = full_campaign()
    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 0)
    assert [_terms(app, product)[1] for _ in range(3)] == [1, 1, 1]


def test_a_sku_on_no_presale_is_kept_too_and_a_new_campaign_shows_at_once(app, clock):
    product = make_product(price=10000, stock=5)
    web = new_client(app)
    with count_queries() as seen:
        web.get(f"/api/v1/presale/products/{product.slug}")
        assert web.get(f"/api/v1/presale/products/{product.slug}").get_json() == []
    assert len(seen.matching(r"FROM presale_campaigns")) == 1  # the second answer came from the copy
    full_campaign(product, quota=4)  # the INSERTs retire the copies
    terms, queries = _terms(app, product)
    assert queries == 1 and terms[0]["remaining"] == 4


def test_a_sale_in_this_worker_shows_on_the_next_request(app, clock):
    _c, product = full_campaign(quota=10)
    assert _terms(app, product)[0][0]["remaining"] == 10
    checkout(make_user(), (product.skus[0].id, 3))
    terms, queries = _terms(app, product)
    assert queries == 1 and terms[0]["remaining"] == 7


def _price(answer) -> int:
    return answer[0][0]["price"]["amount"]


def test_a_staff_edit_shows_on_the_next_request(app, clock):
    campaign, product = full_campaign(quota=10, price=8800)
    assert _price(_terms(app, product)) == 8800
    campaign = db.session.get(Campaign, campaign.id)
    campaign.price = 7700
    db.session.commit()
    assert _price(_terms(app, product)) == 7700
    campaign.active = False
    db.session.commit()
    assert _terms(app, product)[0] == []


def test_a_sell_out_by_another_worker_of_this_host_shows_here_at_once(app, clock, database_url):
    """A real second process on the same database and instance folder, as a second gunicorn
    worker: it sells the last units; this worker's page must say so with the window's clock
    standing still, and its checkout must refuse before it writes."""
    _c, product = full_campaign(quota=2)
    assert _terms(app, product)[0][0]["remaining"] == 2
    assert _terms(app, product)[1] == 0
    db.session.commit()
    run_as_another_worker(app, database_url, "from tests.factories import make_user\n"
                          "from tests.plugins.presale.conftest import checkout",
                          "checkout(make_user(), (int(sys.argv[1]), 2))", product.skus[0].id)
    assert product.skus[0].id in app.extensions[reuse.EXTENSION_KEY].copies  # only the signal can retire it
    terms, queries = _terms(app, product)
    assert queries == 1
    assert terms[0]["remaining"] == 0 and terms[0]["blocked_reason"] == "Presale sold out"


def test_a_write_from_elsewhere_takes_effect_once_the_window_has_passed(app, clock):
    campaign, product = full_campaign(quota=10)
    assert _terms(app, product)[0][0]["remaining"] == 10
    write_behind_sqlalchemys_back(f"UPDATE presale_quotas SET sold = 6 WHERE campaign_id = {campaign.id}")
    clock[0] += 0.9
    assert _terms(app, product)[0][0]["remaining"] == 10  # the copy, under a second old: the documented window
    clock[0] += 0.11
    assert _terms(app, product)[0][0]["remaining"] == 4


def test_a_campaign_that_ends_is_not_served_from_its_copy(app, clock):
    now = utcnow()
    campaign, product = full_campaign(ends=now + timedelta(minutes=5))
    sku_id = product.skus[0].id
    with app.test_request_context("/"):
        assert lookup.campaign_for_sku(sku_id, now)[0].id == campaign.id
    with app.test_request_context("/"):
        assert lookup.campaign_for_sku(sku_id, now + timedelta(minutes=1))[0].id == campaign.id
    with count_queries() as seen, app.test_request_context("/"):
        assert lookup.campaign_for_sku(sku_id, now + timedelta(minutes=6)) is None
    assert len(seen.matching(r"FROM presale_campaigns")) == 1  # not the copy: read again


def test_a_copy_is_not_used_by_a_request_dated_before_its_read(app, clock):
    """A shop clock that went back (tests, a corrected server clock): what was read "later"
    says nothing about an earlier moment."""
    now = utcnow()
    product = make_product(price=10000, stock=5)
    full_campaign(product, starts=now + timedelta(days=1), ends=now + timedelta(days=2))
    sku_id = product.skus[0].id
    with app.test_request_context("/"):
        assert lookup.campaign_for_sku(sku_id, now + timedelta(days=3)) is None  # ended then
    with count_queries() as seen, app.test_request_context("/"):
        assert lookup.campaign_for_sku(sku_id, now) is not None
    assert len(seen.matching(r"FROM presale_campaigns")) == 1


def test_a_read_inside_an_open_presale_write_is_never_kept(app, clock):
    campaign, product = full_campaign(quota=10)
    sku_id = product.skus[0].id
    with app.test_request_context("/"):
        db.session.execute(text("UPDATE presale_quotas SET quota = 12 WHERE campaign_id = :c"), {"c": campaign.id})
        assert lookup.campaign_for_sku(sku_id)[1].quota == 12
        db.session.rollback()
    assert sku_id not in app.extensions.get(reuse.EXTENSION_KEY, reuse.LookupReuse("")).copies
    assert _terms(app, product)[0][0]["remaining"] == 10  # the rolled-back 12 was never shared


def test_the_copies_are_bounded_the_oldest_going_first(app, clock, monkeypatch):
    monkeypatch.setattr(reuse, "MAX_SKUS", 3)
    products = [make_product(price=1000, stock=1) for _ in range(4)]
    for product in products:
        _terms(app, product)
    kept = app.extensions[reuse.EXTENSION_KEY].copies
    assert list(kept) == [p.skus[0].id for p in products[1:]]


def test_an_objects_changes_in_one_request_do_not_reach_the_copy_or_the_next(app, clock):
    campaign, product = full_campaign(quota=10, price=8800)
    sku_id = product.skus[0].id
    with app.test_request_context("/"):
        lookup.campaign_for_sku(sku_id)
    with app.test_request_context("/"):
        found = lookup.campaign_for_sku(sku_id)
        found[0].price = 1
        found[1].sold = 9
        db.session.rollback()
        db.session.expunge_all()  # as the request's end does (the tests' app context outlives it)
    with count_queries() as seen, app.test_request_context("/"):
        again = lookup.campaign_for_sku(sku_id)
        assert again[0].price == 8800 and again[1].sold == 0
    assert not seen.matching(r"FROM presale_campaigns")

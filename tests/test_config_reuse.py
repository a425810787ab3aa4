"""A worker reuses its last read of the settings and plugin states for up to a second
(storefront/config_reuse.py): which requests skip the query, and how a change saved in
this worker, in another worker of the host, or from elsewhere reaches the next request."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from storefront import config_reuse
from storefront.extensions import db
from storefront.plugins.host import get_host
from storefront.settings import all_settings

from .checkout.helpers import api_token
from .conftest import new_client
from .factories import (login, make_staff, make_user, set_plugin_state, sign_in,
                        write_behind_sqlalchemys_back)
from .fresh_worker import run_as_another_worker
from .perf.conftest import count_queries
from .races import write_held_open

LOCATIONS = "/api/v1/pickup/locations"  # 404 while store pickup is switched off


@pytest.fixture
def clock(app, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(config_reuse, "_now", lambda: now[0])
    app.extensions[config_reuse.EXTENSION_KEY].clear()
    set_plugin_state("store_pickup", True)
    db.session.commit()
    return now


def _states_queries(seen) -> list[str]:
    return [s for s in seen if "FROM plugin_states" in s]


def test_signed_in_pages_and_api_requests_reuse_the_read_for_a_second(app, clock):
    buyer = new_client(app)
    sign_in(buyer, make_user())
    headers = api_token(make_user())
    buyer.get("/cart/")
    with count_queries() as seen:
        assert buyer.get("/cart/").status_code == 200
        assert new_client(app).get("/api/v1/cart", headers=headers).status_code == 200
    assert _states_queries(seen) == []
    clock[0] += 1.01
    with count_queries() as seen:
        assert buyer.get("/cart/").status_code == 200
        assert new_client(app).get("/api/v1/cart", headers=headers).status_code == 200
    assert len(_states_queries(seen)) == 1  # the first request after the window reads; the next reuses


def test_zero_seconds_reads_on_every_request(app, clock, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 0)
    new_client(app).get("/no-such-page")
    with count_queries() as seen:
        new_client(app).get("/no-such-page")
        new_client(app).get("/no-such-page")
    assert len(_states_queries(seen)) == 2


def test_a_switch_saved_in_this_worker_shows_on_its_next_request(app, clock):
    assert new_client(app).get(LOCATIONS).status_code == 200
    owner = new_client(app)
    login(owner, make_staff(role="owner"))
    assert owner.post("/admin/plugins/store_pickup/disable").status_code in (302, 303)
    assert new_client(app).get(LOCATIONS).status_code == 404
    assert owner.post("/admin/plugins/store_pickup/enable").status_code in (302, 303)
    assert new_client(app).get(LOCATIONS).status_code == 200


def test_a_switch_saved_by_another_worker_of_this_host_shows_on_the_next_request(app, clock, database_url):
    """A real second process on the same database and instance folder, as a second gunicorn worker."""
    assert new_client(app).get(LOCATIONS).status_code == 200
    db.session.commit()
    run_as_another_worker(app, database_url, "from tests.factories import set_plugin_state",
                          "set_plugin_state('store_pickup', False)")
    # No time has passed on the window's clock: only the worker's signal can retire the copy.
    assert new_client(app).get(LOCATIONS).status_code == 404


def test_a_write_from_elsewhere_shows_once_the_window_has_passed(app, clock):
    assert new_client(app).get(LOCATIONS).status_code == 200
    write_behind_sqlalchemys_back("UPDATE plugin_states SET enabled = false WHERE name = 'store_pickup'")
    clock[0] += 0.5
    assert new_client(app).get(LOCATIONS).status_code == 200  # the copy, half a second old
    clock[0] += 0.51
    assert new_client(app).get(LOCATIONS).status_code == 404


def test_a_setting_saved_in_this_worker_shows_on_the_next_page(app, clock):
    from storefront.settings import set_settings

    assert "Storefront Demo" in new_client(app).get("/no-such-page").get_data(as_text=True)
    set_settings({"shop_name": "Lotus Tea House"})
    db.session.commit()
    assert "Lotus Tea House" in new_client(app).get("/no-such-page").get_data(as_text=True)


def test_an_uncommitted_switch_is_never_handed_to_another_request(app, clock):
    """A request reads its own open write; the worker's other threads must not get that read."""
    def switch_off():
        db.session.execute(text("UPDATE plugin_states SET enabled = :off WHERE name = 'store_pickup'"),
                           {"off": False})

    with write_held_open(app, "/admin/plugins", switch_off,
                         lambda: get_host().is_enabled("store_pickup")) as seen_inside:
        assert seen_inside == [False]
        assert new_client(app).get(LOCATIONS).status_code == 200
    assert new_client(app).get(LOCATIONS).status_code == 200  # rolled back: never switched off


def test_jobs_read_on_every_run(app, clock):
    new_client(app).get(LOCATIONS)  # a request's copy exists
    write_behind_sqlalchemys_back("UPDATE plugin_states SET enabled = false WHERE name = 'store_pickup'")
    with app.app_context():  # a job: no request
        try:
            assert not get_host().is_enabled("store_pickup")
        finally:
            db.session.remove()


def test_an_unwritable_instance_folder_costs_only_the_signal(app, clock, tmp_path):
    from storefront.settings import set_settings

    reuse = app.extensions[config_reuse.EXTENSION_KEY]
    original = reuse.signal_path
    reuse.signal_path = str(tmp_path / "missing-folder" / config_reuse.SIGNAL_FILE)
    try:
        new_client(app).get("/no-such-page")
        set_settings({"shop_name": "Lotus Tea House"})
        db.session.commit()  # the signal fails quietly; the save stands
        assert "Lotus Tea House" in new_client(app).get("/no-such-page").get_data(as_text=True)
    finally:
        reuse.signal_path = original
    with app.app_context():
        try:
            assert all_settings()["shop_name"] == "Lotus Tea House"
        finally:
            db.session.remove()

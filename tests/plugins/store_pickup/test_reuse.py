"""A worker's copies of the stores with their stock, and of the open pickup slots with the
chooser's markup (plugins/store_pickup/reuse.py): which checkout pages skip the queries, and
how a booking made in this worker, in another worker of the host or from elsewhere, a
store's edit or count and the clock reach the next page; placing reads the store afresh."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from plugins.store_pickup import reuse, services
from storefront.clock import utcnow
from storefront.extensions import db
from tests.factories import make_product, make_user, write_behind_sqlalchemys_back
from tests.fresh_worker import run_as_another_worker
from tests.perf.conftest import count_queries

from .conftest import fill_cart, make_location, new_client, place_pickup_order, sign_in

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def clock(app, enabled, monkeypatch):
    """The window's clock, standing still unless a test moves it; the shop's clock, as the
    copies see it, moves with it."""
    now = [1000.0]
    start = utcnow()
    monkeypatch.setattr(reuse, "_now", lambda: now[0])
    monkeypatch.setattr(services, "utcnow", lambda: start + timedelta(seconds=now[0] - 1000.0))
    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 1)
    held = app.extensions.get(reuse.EXTENSION_KEY)
    if held is not None:  # the app outlives a test; the copies must not
        held.clear()
    return now


@pytest.fixture
def cart_sku(app, enabled):
    return make_product(stock=50).skus[0].id


@pytest.fixture
def shopper(app, cart_sku):
    """A signed-in buyer with a one-item cart, and the client they browse with."""
    buyer = make_user()
    fill_cart(buyer, cart_sku)
    web = new_client(app)
    sign_in(web, buyer)
    return web


def _page(web, **headers):
    """The checkout page, the slot keys its chooser offers and the slot-usage queries it sent."""
    html, offered, seen = _checkout(web, **headers)
    return html, offered, len(seen.matching(r"FROM store_pickup_slot_usage"))


def _checkout(web, **headers):
    """The checkout page, the slot keys its chooser offers (none without the chooser), its statements."""
    with count_queries() as seen:
        response = web.get("/checkout/", headers=headers)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    if '<select name="store_pickup_slot"' not in html:
        return html, [], seen
    select = html[html.index('<select name="store_pickup_slot"'):]
    select = select[:select.index("</select>")]
    return html, re.findall(r'<option value="(\d+@[^"]+)"', select), seen


def _place(web, slot_key):
    return web.post("/checkout/", data={
        "delivery_code": "store_pickup", "address_id": "new", "idempotency_key": uuid.uuid4().hex,
        "action": "place", services.FIELD_SLOT: slot_key, services.FIELD_NAME: "Han Meimei",
        services.FIELD_PHONE: "13900001111"})


def test_the_next_page_offers_the_copy_until_the_window_passes(app, clock, shopper):
    location = make_location()
    html, offered, queries = _page(shopper)
    assert queries == 1 and offered[0] == services.available_slots(location)[0].key
    again, offered_again, queries = _page(shopper)
    assert queries == 0 and offered_again == offered
    assert again.count('<details class="sp-location"') == 1 and "Jing&#39;an store" in again
    clock[0] += 0.99
    assert _page(shopper)[2] == 0
    clock[0] += 0.02  # a second since the read: worked out again, then reused again
    assert _page(shopper)[2] == 1
    assert _page(shopper)[2] == 0


def test_zero_seconds_works_them_out_on_every_page(app, clock, shopper, monkeypatch):
    make_location()
    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 0)
    assert [_page(shopper)[2] for _ in range(3)] == [1, 1, 1]


def test_a_booking_in_this_worker_shows_on_the_next_page(app, clock, shopper):
    location = make_location(slot_capacity=1)
    first = services.available_slots(location)[0]
    assert _page(shopper)[1][0] == first.key
    place_pickup_order(make_user(), location, slot=first)  # the slot's last place
    _html, offered, queries = _page(shopper)
    assert queries == 1 and first.key not in offered


def test_a_booking_by_another_worker_of_this_host_shows_here_at_once(app, clock, shopper, database_url):
    """A real second process on the same database and instance folder, as a second gunicorn
    worker, books the slot's last place; this worker's next page must not offer it, with the
    window's clock standing still."""
    location = make_location(slot_capacity=1)
    first = services.available_slots(location)[0]
    assert _page(shopper)[1][0] == first.key
    assert _page(shopper)[2] == 0
    db.session.commit()
    run_as_another_worker(app, database_url, "from tests.factories import make_user\n"
                          "from tests.plugins.store_pickup.conftest import place_pickup_order\n"
                          "from plugins.store_pickup.models import Location\n"
                          "from storefront.extensions import db",
                          "place_pickup_order(make_user(), db.session.get(Location, int(sys.argv[1])))",
                          location.id, STOREFRONT_PLUGINS=["plugins.store_pickup"])
    assert app.extensions[reuse.EXTENSION_KEY].copies  # only the signal can retire it
    _html, offered, queries = _page(shopper)
    assert queries == 1 and first.key not in offered


def test_a_booking_from_elsewhere_shows_once_the_window_has_passed_and_placing_refuses_it(app, clock, shopper):
    location = make_location(slot_capacity=2)
    first = services.available_slots(location)[0]
    place_pickup_order(make_user(), location, slot=first)  # one of two places: the row exists
    assert _page(shopper)[1][0] == first.key
    write_behind_sqlalchemys_back(f"UPDATE store_pickup_slot_usage SET used = 2 WHERE location_id = {location.id}")
    clock[0] += 0.9
    assert _page(shopper)[1][0] == first.key  # the copy, under a second old: the documented window
    # Placing checks the slot against the database, whatever the copy offered.
    response = _place(shopper, first.key)
    assert response.status_code == 422
    assert "That pickup time is no longer available" in response.get_data(as_text=True)
    clock[0] += 0.11
    assert first.key not in _page(shopper)[1]


def test_a_store_edit_shows_on_the_next_page(app, clock, shopper):
    location = make_location()
    assert _page(shopper)[2] == 1
    hours = {str(d): "10:00-12:00" for d in range(7)}  # the hours alone
    services.update_location(location.id, {**services._snapshot(location), "hours": hours})
    html, offered, queries = _page(shopper)
    assert queries == 1 and offered and all(key.endswith(("T10:00", "T11:00")) for key in offered)
    assert "10:00-12:00" in html and "00:00-24:00" not in html
    services.update_location(location.id, {**services._snapshot(location), "name": "Jing'an flagship"})
    html, renamed, _q = _page(shopper)
    assert renamed == offered and "Jing&#39;an flagship" in html and "Jing&#39;an store" not in html


def test_each_language_gets_its_own_markup_from_one_copy(app, clock, shopper):
    make_location()
    english, offered, _q = _page(shopper)
    chinese, offered_zh, queries = _page(new_client_signed_in_as_same(app, shopper), **ZH)
    assert queries == 0 and offered_zh == offered
    assert "Choose…" in english and "请选择…" in chinese and "请选择…" not in english


def new_client_signed_in_as_same(app, web):
    """Another browser of the same buyer (its own session cookie, no language chosen)."""
    other = new_client(app)
    with web.session_transaction() as theirs, other.session_transaction() as mine:
        mine.update(dict(theirs))
    return other


def test_a_buyers_choice_is_marked_on_their_page_only(app, clock, shopper):
    location = make_location()
    second = services.available_slots(location)[1]
    refused = shopper.post("/checkout/", data={
        "delivery_code": "store_pickup", "address_id": "new", "idempotency_key": uuid.uuid4().hex,
        "action": "place", services.FIELD_SLOT: second.key, services.FIELD_NAME: "Han Meimei",
        services.FIELD_PHONE: "not a phone"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    chooser = page.split('id="store_pickup_slot"')[1].split("</select>")[0]
    assert f'<option value="{second.key}" selected>' in chooser and chooser.count(" selected>") == 1
    other = new_client(app)
    buyer = make_user()
    fill_cart(buyer, make_product().skus[0].id)
    sign_in(other, buyer)
    html, offered, queries = _page(other)
    assert queries == 0 and second.key in offered
    assert " selected>" not in html.split('id="store_pickup_slot"')[1].split("</select>")[0]


def test_the_shop_clock_outside_the_copy_works_the_slots_out_again(app, clock, shopper, monkeypatch):
    """A request whose clock is before the copy's read, or past its window, does not use it
    (a clock set by a test, a worker suspended mid-request): the slots that have started since
    are not offered."""
    location = make_location(prep_minutes=0, slot_minutes=60)
    first = services.available_slots(location)[0]
    assert _page(shopper)[1][0] == first.key
    read_at = services.utcnow()
    monkeypatch.setattr(services, "utcnow", lambda: read_at - timedelta(seconds=1))
    assert _page(shopper)[2] == 1
    clock[0] += 0.5  # within the window's clock, but the shop's is three hours on
    monkeypatch.setattr(services, "utcnow", lambda: read_at + timedelta(hours=3))
    _html, offered, queries = _page(shopper)
    assert queries == 1 and first.key not in offered


# -- the stores and their stock ---------------------------------------------------------------
def _store_reads(seen) -> int:
    return len(seen.matching(r"FROM store_pickup_locations"))


def test_the_next_page_takes_the_stores_and_their_stock_from_the_copy(app, clock, shopper):
    make_location()
    first, _o, seen = _checkout(shopper)
    assert _store_reads(seen) == 1 and "Pick up in store" in first
    again, _o, seen = _checkout(shopper)
    assert _store_reads(seen) == 0 and "Pick up in store" in again and "Jing&#39;an store" in again
    clock[0] += 1.01
    assert _store_reads(_checkout(shopper)[2]) == 1


def test_a_store_count_in_this_worker_shows_on_the_next_page(app, clock, shopper, cart_sku):
    from plugins.store_pickup import stock

    location = make_location()
    assert _checkout(shopper)[1]
    stock.set_stock(location.id, cart_sku, 0)  # the only store now cannot fill the cart
    html, offered, seen = _checkout(shopper)
    assert _store_reads(seen) == 1 and offered == [] and "Pick up in store" not in html
    stock.set_stock(location.id, cart_sku, 5)
    assert _checkout(shopper)[1]


def test_a_store_closed_by_staff_in_this_worker_goes_from_the_next_page(app, clock, shopper):
    location = make_location()
    make_location(name="Xuhui store")
    assert "Jing&#39;an store" in _checkout(shopper)[0]
    services.update_location(location.id, {**services._snapshot(location), "active": False})
    html, offered, _seen = _checkout(shopper)
    assert "Jing&#39;an store" not in html and "Xuhui store" in html
    assert offered and not any(key.startswith(f"{location.id}@") for key in offered)


def test_placing_books_against_the_store_as_it_is_not_as_the_copy_holds_it(app, clock, shopper):
    """Capacity lowered from another host within the window: the page (from the copy) still
    offers the slot, and so does the placing request's preview; the order is refused against
    the store as its write transaction reads it, and nothing is booked."""
    from plugins.store_pickup.models import Pickup, SlotUsage

    location = make_location(slot_capacity=2)
    first = services.available_slots(location)[0]
    place_pickup_order(make_user(), location, slot=first)
    assert _checkout(shopper)[1][0] == first.key
    write_behind_sqlalchemys_back(f"UPDATE store_pickup_locations SET slot_capacity = 1 WHERE id = {location.id}")
    clock[0] += 0.5
    assert _checkout(shopper)[1][0] == first.key  # the copy: the documented window
    response = _place(shopper, first.key)
    assert response.status_code == 422
    assert "That pickup time is no longer available" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(db.select(SlotUsage.used).where(SlotUsage.location_id == location.id)) == 1
    assert db.session.scalar(db.select(db.func.count(Pickup.id))) == 1


def test_a_request_that_changes_its_stores_opening_hours_leaves_the_copy_alone(app, clock, cart_sku):
    """Kept values are shared by every request: each request's store gets its own hours."""
    make_location()
    needs = {cart_sku: 1}
    with app.test_request_context("/"):
        (store,), _short = services._locations_and_short(needs)
        opening = store.hours["0"]
        store.hours["0"].append("changed in this request")
        db.session.expunge_all()
    with app.test_request_context("/"):
        with count_queries() as seen:
            (store,), _short = services._locations_and_short(needs)
        assert _store_reads(seen) == 0 and store.hours["0"] == opening[:2] == ["00:00", "24:00"]
        db.session.expunge_all()

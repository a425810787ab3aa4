"""Checkout: the pickup option, its choices and problems, the order it places, slot capacity."""
from __future__ import annotations

import re
import threading
import uuid

import pytest

from plugins.store_pickup import services
from plugins.store_pickup.models import Pickup, SlotUsage
from storefront.accounts.models import Address, User
from storefront.cart.models import Cart, CartLine
from storefront.checkout.services import place_order, prepare_checkout
from storefront.errors import CheckoutBlocked
from storefront.extensions import db
from storefront.orders.models import Order
from tests.factories import make_product, make_user
from tests.perf.conftest import count_queries

from .conftest import fill_cart, make_location, pickup_extra, set_enabled, sign_in, thread_client


def _form(location, **overrides):
    slot = services.available_slots(location)[0]
    data = {"delivery_code": "store_pickup", "address_id": "new", "idempotency_key": uuid.uuid4().hex,
            "action": "place", "note": "", **pickup_extra(location, slot)}
    data.update(overrides)
    return data


def test_option_is_free_and_needs_no_address(app, location, buyer):
    fill_cart(buyer, make_product().skus[0].id)
    draft = prepare_checkout(buyer, delivery_code="store_pickup", extra=pickup_extra(location))
    assert draft.delivery.code == "store_pickup" and draft.delivery.fee == 0
    assert not draft.delivery.needs_address
    assert draft.breakdown.shipping == 0
    assert draft.problems == []


def test_placing_for_another_option_skips_the_stores_and_pickup_still_places(app, location, buyer):
    """An order placed for the courier does not ask which store could fill it (``wanted``);
    the page's preview still lists pickup, and an order placed for pickup still gets it."""
    sku_id = make_product().skus[0].id
    fill_cart(buyer, sku_id)
    assert "store_pickup" in [o.code for o in prepare_checkout(buyer).delivery_options]
    courier = prepare_checkout(buyer, delivery_code="courier", strict=True)
    assert [o.code for o in courier.delivery_options] == ["courier"]
    assert courier.delivery.code == "courier" and courier.breakdown.delivery_code == "courier"
    placed = place_order(buyer, idempotency_key=uuid.uuid4().hex, delivery_code="store_pickup",
                         extra=pickup_extra(location))
    assert placed.orders[0].delivery_code == "store_pickup"
    assert db.session.execute(db.select(Pickup).where(Pickup.order_id == placed.orders[0].id)).scalar_one()


def test_checkout_page_renders_stores_hours_and_slots(app, client, location, buyer):
    fill_cart(buyer, make_product().skus[0].id)
    sign_in(client, buyer)
    page = client.get("/checkout/?delivery_code=store_pickup").get_data(as_text=True)
    assert "Pick up in store" in page and "Jing&#39;an store" in page
    assert "00:00-24:00" in page  # hours shown
    assert services.available_slots(location)[0].key in page
    assert 'name="store_pickup_name"' in page and 'value="Test Buyer"' in page
    assert "Deliver to" not in page  # no address form for pickup


def test_place_pickup_order_through_the_page_without_address(app, client, location, buyer):
    fill_cart(buyer, make_product(stock=5).skus[0].id)
    sign_in(client, buyer)
    response = client.post("/checkout/", data=_form(location))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    order = db.session.execute(db.select(Order)).scalar_one()
    assert order.shipping_total == 0 and order.ship_address == "" and order.ship_name == ""
    pickup = db.session.execute(db.select(Pickup)).scalar_one()
    assert (pickup.order_id, pickup.location_id, pickup.status) == (order.id, location.id, "preparing")
    assert pickup.contact_name == "Han Meimei" and pickup.open_code is None
    usage = db.session.execute(db.select(SlotUsage)).scalar_one()
    assert usage.used == 1 and usage.slot_start == pickup.slot_start


@pytest.mark.parametrize("field,value,code", [
    ("store_pickup_slot", "", "pickup_slot_required"),
    ("store_pickup_slot", "999@2030-01-01T10:00", "pickup_location_invalid"),
    ("store_pickup_slot", "garbage", "pickup_slot_required"),
    ("store_pickup_name", "", "pickup_name_invalid"),
    ("store_pickup_phone", "call me", "pickup_phone_invalid"),
])
def test_bad_choices_block_with_a_problem_on_the_field(app, location, buyer, field, value, code):
    fill_cart(buyer, make_product().skus[0].id)
    extra = {**pickup_extra(location), field: value}
    with pytest.raises(CheckoutBlocked) as info:
        place_order(buyer, idempotency_key=uuid.uuid4().hex, delivery_code="store_pickup", extra=extra)
    problems = info.value.details["problems"]
    assert [(p["code"], p["field"]) for p in problems] == [(code, field)]
    assert db.session.execute(db.select(Order)).first() is None


def test_bad_choice_on_the_page_is_shown_next_to_the_field(app, client, location, buyer):
    fill_cart(buyer, make_product().skus[0].id)
    sign_in(client, buyer)
    response = client.post("/checkout/", data=_form(location, store_pickup_phone="x"))
    assert response.status_code == 422
    assert "Enter the phone number of the person collecting." in response.get_data(as_text=True)


def test_slot_outside_hours_or_on_a_closed_date_is_refused(app, buyer, enabled):
    location = make_location(hours={"0": "09:00-10:00"})
    fill_cart(buyer, make_product().skus[0].id)
    extra = {**pickup_extra(make_location(name="Other")), "store_pickup_slot": f"{location.id}@2030-01-07T03:00"}
    draft = prepare_checkout(buyer, delivery_code="store_pickup", extra=extra)
    assert [p.code for p in draft.problems] == ["pickup_slot_unavailable"]


def test_full_slot_is_not_offered(app, buyer, enabled):
    location = make_location(slot_capacity=1)
    first = services.available_slots(location)[0]
    fill_cart(buyer, make_product().skus[0].id)
    place_order(buyer, idempotency_key=uuid.uuid4().hex, delivery_code="store_pickup",
                extra=pickup_extra(location, first))
    assert first.key not in [s.key for s in services.available_slots(location)]
    other = make_user()
    fill_cart(other, make_product().skus[0].id)
    with pytest.raises(CheckoutBlocked):
        place_order(other, idempotency_key=uuid.uuid4().hex, delivery_code="store_pickup",
                    extra=pickup_extra(location, first))


def test_nearest_store_first_from_the_buyers_own_address_only(app, enabled):
    hanoi = make_location(name="A Hanoi", city="Hà Nội", province="Hà Nội")
    shanghai = make_location(name="B Shanghai", city="Shanghai", province="Shanghai")
    buyer, other = make_user(), make_user()
    db.session.add(Address(user_id=other.id, name="X", phone="13800000000", city="Shanghai", province="Shanghai",
                           line1="secret street 1", is_default=True))
    db.session.commit()
    assert [loc.id for loc in services.locations_for_buyer(buyer)] == [hanoi.id, shanghai.id]
    db.session.add(Address(user_id=buyer.id, name="Y", phone="13800000000", city="Shanghai",
                           province="Shanghai", line1="1 Road", is_default=True))
    db.session.commit()
    assert [loc.id for loc in services.locations_for_buyer(buyer)] == [shanghai.id, hanoi.id]


def test_checkout_page_never_shows_other_buyers_addresses(app, client, location, buyer):
    other = make_user()
    db.session.add(Address(user_id=other.id, name="Someone Else", phone="13800000000", city="Shanghai",
                           line1="secret street 1", is_default=True))
    fill_cart(buyer, make_product().skus[0].id)
    sign_in(client, buyer)
    page = client.get("/checkout/?delivery_code=store_pickup").get_data(as_text=True)
    assert "secret street" not in page and "Someone Else" not in page


def test_disabled_plugin_removes_the_option(app, client, location, buyer):
    fill_cart(buyer, make_product().skus[0].id)
    set_enabled(False)
    draft = prepare_checkout(buyer)
    assert "store_pickup" not in [o.code for o in draft.delivery_options]
    sign_in(client, buyer)
    page = client.get("/checkout/").get_data(as_text=True)
    assert "Pick up in store" not in page and "store_pickup_slot" not in page


def test_no_active_location_no_option(app, buyer, enabled):
    make_location(active=False)
    fill_cart(buyer, make_product().skus[0].id)
    assert "store_pickup" not in [o.code for o in prepare_checkout(buyer).delivery_options]


def test_extra_keys_are_bounded(app, location, buyer):
    fill_cart(buyer, make_product().skus[0].id)
    draft = prepare_checkout(buyer, delivery_code="store_pickup",
                             extra={**pickup_extra(location), "Bad Key": "x", "store_pickup_x": "y" * 600,
                                    "store_pickup_n": {"a": 1}})
    assert set(draft.extra) == {"store_pickup_slot", "store_pickup_name", "store_pickup_phone"}


CAPACITY = 3
BUYERS = 12


def test_slot_capacity_holds_under_concurrent_checkouts(app, enabled):
    location = make_location(slot_capacity=CAPACITY)
    slot = services.available_slots(location)[0]
    sku_id = make_product(stock=100).skus[0].id
    users = [User(email=f"pickup-racer{i}@example.com", name=f"R{i}", password_hash="!", phone="13800000000")
             for i in range(BUYERS)]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        db.session.add(Cart(user_id=user.id, data={}, lines=[CartLine(sku_id=sku_id, quantity=1)]))
    db.session.commit()
    clients = []
    for user in users:
        c = thread_client(app)
        sign_in(c, user)
        clients.append(c)
    barrier = threading.Barrier(BUYERS)
    statuses = [0] * BUYERS

    def buy(i):
        data = {"delivery_code": "store_pickup", "address_id": "new", "idempotency_key": uuid.uuid4().hex,
                "action": "place", **pickup_extra(location, slot, name=f"R{i}")}
        barrier.wait(timeout=120)
        try:
            statuses[i] = clients[i].post("/checkout/", data=data).status_code
        except Exception:  # noqa: BLE001 - counted as a failure below
            statuses[i] = -1

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(BUYERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.rollback()
    assert statuses.count(302) == CAPACITY, statuses
    assert all(s in (302, 409, 422) for s in statuses), statuses
    assert db.session.execute(db.select(db.func.count(Pickup.id))).scalar() == CAPACITY
    assert db.session.execute(db.select(db.func.count(Order.id))).scalar() == CAPACITY
    assert db.session.execute(db.select(SlotUsage.used)).scalar() == CAPACITY


def test_courier_stays_the_default_choice(app, location, buyer):
    fill_cart(buyer, make_product().skus[0].id)
    draft = prepare_checkout(buyer)
    assert [o.code for o in draft.delivery_options] == ["courier", "store_pickup"]
    assert draft.delivery.code == "courier"


def test_nearest_first_from_the_city_given_in_this_checkout_or_request(app, client, enabled):
    from .conftest import bearer

    hanoi = make_location(name="A Hanoi", city="Hà Nội", province="Hà Nội")
    shanghai = make_location(name="B Shanghai", city="Shanghai", province="Shanghai")
    buyer = make_user()
    db.session.add(Address(user_id=buyer.id, name="Y", phone="13800000000", city="Hà Nội", province="Hà Nội",
                           line1="1 Road", is_default=True))
    db.session.commit()
    assert [loc.id for loc in services.locations_for_buyer(buyer)] == [hanoi.id, shanghai.id]
    typed = {"city": "shanghai", "province": ""}  # the address typed in this checkout wins
    assert [loc.id for loc in services.locations_for_buyer(buyer, address=typed)] == [shanghai.id, hanoi.id]
    names = [row["name"] for row in client.get("/api/v1/pickup/locations?city=Shanghai").get_json()]
    assert names == ["B Shanghai", "A Hanoi"]
    signed = thread_client(app)
    names = [row["name"] for row in signed.get("/api/v1/pickup/locations", headers=bearer(buyer)).get_json()]
    assert names == ["A Hanoi", "B Shanghai"]  # the buyer's own saved address
    assert client.get("/api/v1/pickup/locations?city=" + "x" * 81).status_code == 422


def test_location_list_never_carries_buyer_addresses(app, client, location):
    other = make_user()
    db.session.add(Address(user_id=other.id, name="Someone Else", phone="13800000000", city="Shanghai",
                           province="Shanghai", line1="secret street 1", is_default=True))
    db.session.commit()
    body = client.get("/api/v1/pickup/locations").get_data(as_text=True)
    assert "secret street" not in body and "Someone Else" not in body
    page = client.get("/pickup/stores").get_data(as_text=True)
    assert location.address in page and "secret street" not in page


def _buyer_cart(buyer, sku_id, data=None) -> Cart:
    fill_cart(buyer, sku_id)
    cart = db.session.execute(db.select(Cart).where(Cart.user_id == buyer.id)).scalar_one()
    if data is not None:
        cart.data = data
        db.session.commit()
    return cart


def test_cart_total_does_not_ask_the_stores(app, location, buyer):
    """A cart priced without a choice gets the courier, which comes first: pickup's stock
    look-up is left out (``PRESELECTED``), while the checkout page still offers pickup."""
    from storefront.checkout.pricing import price_cart

    cart = _buyer_cart(buyer, make_product().skus[0].id)
    with count_queries() as statements:
        breakdown = price_cart(cart, buyer)
    assert breakdown.delivery_code == "courier" and breakdown.shipping > 0
    assert not statements.matching("store_pickup")
    assert [o.code for o in prepare_checkout(buyer).delivery_options] == ["courier", "store_pickup"]


def test_cart_remembering_pickup_is_priced_for_pickup(app, location, buyer):
    from storefront.checkout.pricing import price_cart

    cart = _buyer_cart(buyer, make_product().skus[0].id, data={"delivery_code": "store_pickup"})
    breakdown = price_cart(cart, buyer)
    assert (breakdown.delivery_code, breakdown.shipping) == ("store_pickup", 0)


def test_remembered_pickup_no_store_can_fill_falls_back_to_the_courier(app, buyer, enabled):
    from storefront.checkout.pricing import price_cart

    make_location(active=False)
    cart = _buyer_cart(buyer, make_product().skus[0].id, data={"delivery_code": "store_pickup"})
    breakdown = price_cart(cart, buyer)
    assert breakdown.delivery_code == "courier" and breakdown.shipping > 0


def test_pickup_named_but_not_offered_is_refused(app, buyer, enabled):
    from storefront.checkout.pricing import price_cart
    from storefront.errors import ValidationFailed

    make_location(active=False)
    cart = _buyer_cart(buyer, make_product().skus[0].id)
    with pytest.raises(ValidationFailed) as refused:
        price_cart(cart, buyer, delivery_code="store_pickup")
    assert refused.value.field == "delivery_code"


def _hours_tables(page: str) -> list[str]:
    return re.findall(r'<dl class="sp-hours">.*?</dl>', page, flags=re.S)


def test_the_stores_hours_are_the_included_tables_in_each_language_and_follow_an_edit(app, client, location,
                                                                                      buyer):
    """The hours tables are kept per process (render.hours_html): each is exactly what the
    include rendered, in the page's language, and a store's edited hours show at once."""
    from flask import render_template_string

    from plugins.store_pickup.render import hours_rows

    fill_cart(buyer, make_product().skus[0].id)
    sign_in(client, buyer)
    for lang, monday in (("vi", "Thứ Hai"), ("zh_Hans", "星期一"), ("en", "Monday"), ("vi", "Thứ Hai")):
        page = client.get(f"/checkout/?delivery_code=store_pickup&lang={lang}").get_data(as_text=True)
        with app.app_context(), app.test_request_context(f"/?lang={lang}"):  # its own g: its own locale
            included = render_template_string(
                '{% with rows = r %}{% include "store_pickup/_hours.html" %}{% endwith %}', r=hours_rows(location))
        assert _hours_tables(page) == _hours_tables(included) and monday in _hours_tables(page)[0]
    services.update_location(location.id, {**_location_data(location), "hours": {
        **{str(d): "00:00-24:00" for d in range(6)}, "6": "09:30-17:00"}})
    db.session.commit()
    page = client.get("/checkout/?delivery_code=store_pickup&lang=en").get_data(as_text=True)
    assert "<dt>Sunday</dt><dd>09:30-17:00</dd>" in _hours_tables(page)[0]


def _location_data(location) -> dict:
    return {"name": location.name, "address": location.address, "city": location.city,
            "province": location.province, "phone": location.phone, "map_url": location.map_url,
            "hours": location.hours, "prep_minutes": location.prep_minutes, "slot_minutes": location.slot_minutes,
            "slot_capacity": location.slot_capacity}

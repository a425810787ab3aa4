"""Optional stock per location: which stores are offered, reservation at checkout, give-back
exactly once, hand-over, the staff page and API, and the concurrent-checkout race."""
from __future__ import annotations

import threading
import uuid

import pytest

from plugins.store_pickup import pickups, services, stock, sweeps
from plugins.store_pickup.models import LocationStock, Pickup
from storefront.accounts.models import User
from storefront.cart.models import Cart, CartLine
from storefront.catalog.models import Sku
from storefront.checkout.services import place_order, prepare_checkout
from storefront.clock import utcnow
from storefront.errors import CheckoutBlocked, Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.services import cancel_by_buyer
from tests.factories import make_product, make_user

from .conftest import bearer, fill_cart, make_location, pickup_extra, place_pickup_order, set_enabled, sign_in, \
    thread_client


def _qty(location, sku_id):
    db.session.expire_all()
    return db.session.execute(db.select(LocationStock.quantity).where(
        LocationStock.location_id == location.id, LocationStock.sku_id == sku_id)).scalar()


def _track(location, sku_id, quantity):
    stock.set_stock(location.id, sku_id, quantity)


def _pickup(order) -> Pickup:
    db.session.expire_all()
    return db.session.execute(db.select(Pickup).where(Pickup.order_id == order.id)).scalar_one()


# -- which stores are offered -------------------------------------------------------------
def test_only_stores_that_can_fill_the_whole_cart_are_offered(app, buyer, enabled):
    shirt, mug = make_product(stock=50), make_product(name="Mug", stock=50)
    short = make_location(name="A short")
    full = make_location(name="B full")
    make_location(name="C untracked")
    _track(short, shirt.skus[0].id, 5)
    _track(short, mug.skus[0].id, 1)  # one mug, the cart wants two
    _track(full, shirt.skus[0].id, 5)
    _track(full, mug.skus[0].id, 2)
    fill_cart(buyer, shirt.skus[0].id, 2)
    db.session.add(CartLine(cart_id=db.session.execute(db.select(Cart.id)).scalar(), sku_id=mug.skus[0].id,
                            quantity=2))
    db.session.commit()
    draft = prepare_checkout(buyer, delivery_code="store_pickup", extra=pickup_extra(full))
    assert draft.problems == []
    assert [loc.name for loc in services.locations_for_buyer(buyer, draft.lines)] == ["B full", "C untracked"]
    assert [loc.name for loc in services.locations_for_buyer(buyer)] == ["A short", "B full", "C untracked"]
    draft = prepare_checkout(buyer, delivery_code="store_pickup", extra=pickup_extra(short))
    assert [(p.code, p.field) for p in draft.problems] == [("pickup_stock_short", "store_pickup_slot")]


def test_checkout_page_lists_only_stores_with_stock(app, client, buyer, enabled):
    sku_id = make_product(stock=50).skus[0].id
    empty = make_location(name="Empty store")
    make_location(name="Stocked store")
    _track(empty, sku_id, 0)
    fill_cart(buyer, sku_id)
    sign_in(client, buyer)
    page = client.get("/checkout/?delivery_code=store_pickup").get_data(as_text=True)
    assert "Stocked store" in page and "Empty store" not in page


def test_option_disappears_when_no_store_can_fill_the_cart(app, buyer, enabled):
    sku_id = make_product(stock=50).skus[0].id
    _track(make_location(), sku_id, 1)
    fill_cart(buyer, sku_id, 2)
    assert "store_pickup" not in [o.code for o in prepare_checkout(buyer).delivery_options]
    with pytest.raises((CheckoutBlocked, ValidationFailed)):
        place_order(buyer, idempotency_key=uuid.uuid4().hex, delivery_code="store_pickup",
                    extra={"store_pickup_slot": "", "store_pickup_name": "A", "store_pickup_phone": "13900001111"})


# -- reservation and give-back ------------------------------------------------------------
def test_checkout_reserves_the_stores_stock_and_the_core_stock(app, location, buyer):
    tracked, free = make_product(stock=10), make_product(name="Untracked", stock=10)
    _track(location, tracked.skus[0].id, 4)
    fill_cart(buyer, tracked.skus[0].id, 3)
    db.session.add(CartLine(cart_id=db.session.execute(db.select(Cart.id)).scalar(), sku_id=free.skus[0].id,
                            quantity=1))
    db.session.commit()
    result = place_order(buyer, idempotency_key=uuid.uuid4().hex, delivery_code="store_pickup",
                         extra=pickup_extra(location))
    assert _qty(location, tracked.skus[0].id) == 1
    assert _qty(location, free.skus[0].id) is None  # still not tracked
    assert _pickup(result.orders[0]).stock_lines == [[tracked.skus[0].id, 3]]
    assert db.session.get(Sku, tracked.skus[0].id).stock == 7  # the core stock is taken as well


def test_closed_order_gives_the_stock_back_exactly_once(app, location, buyer):
    product = make_product(stock=10)
    _track(location, product.skus[0].id, 2)
    order = place_pickup_order(buyer, location, product=product)
    assert _qty(location, product.skus[0].id) == 1
    cancel_by_buyer(db.session.get(Order, order.id), buyer)
    assert _qty(location, product.skus[0].id) == 2
    assert _pickup(order).released_at is not None and _pickup(order).status == "cancelled"
    assert pickups.release_for_closed_order(order.id) is False
    assert sweeps.sweep(utcnow())["pickups_released"] == 0
    assert _qty(location, product.skus[0].id) == 2
    assert db.session.get(Sku, product.skus[0].id).stock == 10


def test_hand_over_keeps_the_stock_taken(app, location, buyer, staff):
    product = make_product(stock=10)
    _track(location, product.skus[0].id, 2)
    order = place_pickup_order(buyer, location, product=product)
    pickups.mark_ready(_pickup(order).id, staff)
    pickups.verify_code(location.id, _pickup(order).code, staff)
    sweeps.sweep(utcnow())
    assert _qty(location, product.skus[0].id) == 1 and _pickup(order).released_at is None
    assert db.session.get(Sku, product.skus[0].id).stock == 9


def test_uncollected_cancellation_puts_the_goods_back_on_the_stores_shelf(app, location, buyer, staff):
    from datetime import timedelta

    set_enabled(True, cancel_after_days=2)
    product = make_product(stock=10)
    _track(location, product.skus[0].id, 2)
    order = place_pickup_order(buyer, location, product=product)
    pickups.mark_ready(_pickup(order).id, staff)
    assert sweeps.sweep(utcnow() + timedelta(days=3))["pickups_cancelled"] == 1
    assert _qty(location, product.skus[0].id) == 2
    assert db.session.get(Sku, product.skus[0].id).stock == 10
    assert db.session.get(Order, order.id).status.value == "closed"


def test_untracking_while_reserved_gives_back_nothing(app, location, buyer):
    product = make_product(stock=10)
    _track(location, product.skus[0].id, 2)
    order = place_pickup_order(buyer, location, product=product)
    stock.set_stock(location.id, product.skus[0].id, None)
    cancel_by_buyer(db.session.get(Order, order.id), buyer)
    assert _qty(location, product.skus[0].id) is None


# -- setting the count --------------------------------------------------------------------
def test_set_stock_rules(app, location):
    sku_id = make_product(stock=5).skus[0].id
    with pytest.raises(ValidationFailed):
        stock.set_stock(location.id, sku_id, 6)  # more than the shop's whole stock
    for bad in ("-1", "x", "1.5", True, 2_000_000):
        with pytest.raises(ValidationFailed):
            stock.clean_quantity(bad)
    assert stock.clean_quantity(" ") is None and stock.clean_quantity("3") == 3
    with pytest.raises(NotFound):
        stock.find_sku("NO-SUCH-SKU")
    stock.set_stock(location.id, sku_id, 3)
    with pytest.raises(Conflict) as info:
        stock.set_stock(location.id, sku_id, 4, expected=2, check_expected=True)
    assert info.value.code == "stock_changed" and _qty(location, sku_id) == 3
    stock.set_stock(location.id, sku_id, 4, expected=3, check_expected=True)
    assert _qty(location, sku_id) == 4
    with pytest.raises(Conflict):
        stock.set_stock(location.id, sku_id, 1, expected=None, check_expected=True)  # it is tracked now


def test_staff_stock_page_adds_edits_and_untracks(app, client, location, staff):
    product = make_product(stock=20)
    code, sku_id = product.skus[0].code, product.skus[0].id
    sign_in(client, staff)
    url = f"/admin/pickup/locations/{location.id}/stock"
    assert client.get(url).status_code == 200
    response = client.post(url, data={"sku": code, "quantity": "7"})
    assert response.status_code == 302 and _qty(location, sku_id) == 7
    page = client.get(url).get_data(as_text=True)
    assert code in page and 'value="7"' in page and 'inputmode="numeric"' in page
    # A row saved with a stale count (a checkout took one meanwhile) is refused next to the field.
    db.session.execute(db.update(LocationStock).values(quantity=6))
    db.session.commit()
    response = client.post(url, data={"sku": code, "quantity": "9", "expected": "7", "check": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "The stock changed meanwhile" in body and 'value="6"' in body
    assert _qty(location, sku_id) == 6
    response = client.post(url, data={"sku": code, "quantity": "9", "expected": "6", "check": "1"})
    assert response.status_code == 302 and _qty(location, sku_id) == 9
    response = client.post(url, data={"sku": code, "quantity": "", "expected": "9", "check": "1"})
    assert response.status_code == 302 and _qty(location, sku_id) is None


@pytest.mark.parametrize("data,message", [
    ({"sku": "NO-SUCH", "quantity": "1"}, "No product variant with this code."),
    ({"sku": "{code}", "quantity": "-2"}, "A whole number from 0"),
    ({"sku": "{code}", "quantity": "lots"}, "A whole number from 0"),
    ({"sku": "{code}", "quantity": "999"}, "the shop&#39;s whole stock"),
])
def test_bad_stock_input_is_shown_next_to_the_field(app, client, location, staff, data, message):
    code = make_product(stock=20).skus[0].code
    sign_in(client, staff)
    data = {k: v.format(code=code) for k, v in data.items()}
    response = client.post(f"/admin/pickup/locations/{location.id}/stock", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert db.session.execute(db.select(LocationStock)).first() is None


def test_stock_page_permissions(app, client, location, secure_client, staff):
    url = f"/admin/pickup/locations/{location.id}/stock"
    assert client.get(url).status_code == 302  # anonymous: to sign-in
    sign_in(client, make_user())
    assert client.get(url).status_code == 403
    assert client.post(url, data={"sku": "x", "quantity": "1"}).status_code == 403
    sign_in(secure_client, staff)
    assert secure_client.post(url, data={"sku": "x", "quantity": "1"}).status_code == 400  # no CSRF token
    staff_client = thread_client(app)
    sign_in(staff_client, staff)
    assert staff_client.get("/admin/pickup/locations/999/stock").status_code == 404
    set_enabled(False)
    assert staff_client.get(url).status_code == 404  # not a page that serves open pickups


def test_stock_api(app, client, location, staff, buyer):
    product = make_product(stock=20)
    code = product.skus[0].code
    url = f"/api/v1/pickup/locations/{location.id}/stock"
    headers = bearer(staff)
    assert client.get(url).status_code == 401
    assert client.put(url, headers=bearer(buyer), json={"sku": code, "quantity": 1}).status_code == 403
    response = client.put(url, headers=headers, json={"sku": code, "quantity": 5})
    assert response.status_code == 200 and response.get_json()["quantity"] == 5
    assert client.get(url, headers=headers).get_json() == [
        {"sku_id": product.skus[0].id, "sku_code": code, "product_name": "T-shirt", "quantity": 5}]
    response = client.put(url, headers=headers, json={"sku": code, "quantity": 4, "expected": 3})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "stock_changed"
    response = client.put(url, headers=headers, json={"sku": code, "quantity": -1})
    assert response.status_code == 422
    response = client.put(url, headers=headers, json={"sku": "NOPE", "quantity": 1})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "sku_unknown"
    response = client.put(url, headers=headers, json={"sku": str(product.skus[0].id), "quantity": None,
                                                      "expected": 5})
    assert response.status_code == 200 and response.get_json()["quantity"] is None
    assert client.get(url, headers=headers).get_json() == []
    assert client.get("/api/v1/pickup/locations/999/stock", headers=headers).status_code == 404
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "put"} <= set(paths["/api/v1/pickup/locations/{location_id}/stock"])


# -- race ---------------------------------------------------------------------------------
STORE_STOCK = 3
BUYERS = 10


def test_concurrent_pickup_checkouts_never_take_store_stock_below_zero(app, enabled):
    location = make_location(slot_capacity=100)
    slot = services.available_slots(location)[0]
    sku_id = make_product(stock=100).skus[0].id
    _track(location, sku_id, STORE_STOCK)
    users = [User(email=f"stock-racer{i}@example.com", name=f"S{i}", password_hash="!", phone="13800000000")
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
    barrier = threading.Barrier(BUYERS, timeout=120)
    statuses = [0] * BUYERS

    def buy(i):
        data = {"delivery_code": "store_pickup", "address_id": "new", "idempotency_key": uuid.uuid4().hex,
                "action": "place", **pickup_extra(location, slot, name=f"S{i}")}
        barrier.wait()
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
    assert statuses.count(302) == STORE_STOCK, statuses
    assert all(s in (302, 409, 422) for s in statuses), statuses
    assert _qty(location, sku_id) == 0
    assert db.session.execute(db.select(db.func.count(Pickup.id))).scalar() == STORE_STOCK
    assert db.session.get(Sku, sku_id).stock == 100 - STORE_STOCK


class _SplitPerSku:
    """A stand-in for a plugin that splits a checkout into one order per SKU (e.g. presale)."""

    from storefront.plugins import hookimpl

    @hookimpl
    def split_checkout(self, checkout):
        from storefront.plugins.types import CheckoutGroup

        return [CheckoutGroup(key=f"g{line.sku_id}", sku_ids=(line.sku_id,)) for line in checkout.lines]


def test_split_checkout_takes_each_orders_own_lines_from_the_store(app, location, buyer):
    from storefront.plugins.host import get_host

    shirt, mug = make_product(stock=10), make_product(name="Mug", stock=10)
    _track(location, shirt.skus[0].id, 2)
    _track(location, mug.skus[0].id, 1)
    fill_cart(buyer, shirt.skus[0].id, 2)
    db.session.add(CartLine(cart_id=db.session.execute(db.select(Cart.id)).scalar(), sku_id=mug.skus[0].id,
                            quantity=1))
    db.session.commit()
    pm = get_host().pm
    pm.register(_SplitPerSku(), name="test-split-per-sku")
    try:
        result = place_order(buyer, idempotency_key=uuid.uuid4().hex, delivery_code="store_pickup",
                             extra=pickup_extra(location))
    finally:
        pm.unregister(name="test-split-per-sku")
    assert len(result.orders) == 2
    lines = sorted(_pickup(o).stock_lines[0] for o in result.orders)
    assert lines == sorted([[shirt.skus[0].id, 2], [mug.skus[0].id, 1]])
    assert _qty(location, shirt.skus[0].id) == 0 and _qty(location, mug.skus[0].id) == 0


def test_staff_changes_are_audited(app, client, location, staff):
    from storefront.audit.models import AuditEntry

    code = make_product(stock=20).skus[0].code
    sign_in(client, staff)
    client.post(f"/admin/pickup/locations/{location.id}/stock", data={"sku": code, "quantity": "4"})
    client.post(f"/admin/pickup/counter/{location.id}/verify", data={"code": "00000001"})
    rows = db.session.execute(db.select(AuditEntry).where(AuditEntry.actor_id == staff.id)).scalars().all()
    by_action = {row.action: row for row in rows}
    assert by_action["store_pickup.stock_set"].after == {"quantity": 4}
    assert by_action["store_pickup.stock_set"].object_id == f"{location.id}:{code}"
    assert by_action["store_pickup.wrong_code"].object_id == str(location.id)

"""Cart and checkout shortcuts (issue 9): a new cart with its first line in one write,
the pickup option's one query.

Each shortcut skips a round trip; these tests pin that it is skipped and that
the answer stays the one the long way gives (races included).
"""
from __future__ import annotations

import re

from flask_login import login_user
from sqlalchemy import func, insert, select

from storefront.accounts.models import User
from storefront.cart import services as cart_services
from storefront.cart.models import Cart, CartLine
from storefront.errors import ConcurrentUpdate
from storefront.extensions import db
from tests.checkout.helpers import api_token
from tests.conftest import new_client
from tests.races import run_threads

from .conftest import count_queries, give_cart, make_user


def _lines(user) -> dict[int, int]:
    db.session.expire_all()
    cart = cart_services.find_cart(user)
    return {line.sku_id: line.quantity for line in cart.lines} if cart is not None else {}


# -- the first line of a new cart --------------------------------------------------------------


def test_first_line_of_a_new_cart_is_one_write(app, shop):
    headers = api_token(make_user())
    client = new_client(app)
    sku = shop["plain"][0].skus[0]
    with count_queries() as seen:
        response = client.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 2}, headers=headers)
    print(len(seen), *seen, sep="\n")
    assert response.status_code == 201
    # The cart and its line go in together, after the checks: one write transaction,
    # nothing to look up in a cart made a moment ago, nor to re-date, nor to read back.
    if db.engine.dialect.name == "sqlite":
        assert len(seen.matching(r"^BEGIN IMMEDIATE")) == 1
    assert len(seen.matching(r"^INSERT INTO carts")) == 1
    assert len(seen.matching(r"^INSERT INTO cart_lines")) == 1
    assert not seen.matching(r"^SELECT cart_lines\.")
    assert not seen.matching(r"^UPDATE carts")
    assert len(seen.matching(r"FROM carts\b")) == 1  # the look-up that found no cart
    assert response.get_json() == client.get("/api/v1/cart", headers=headers).get_json()
    # A second add to the same (now existing) cart takes the usual way and adds up, without
    # reading the SKU it checked again while holding the write lock.
    sku_id = sku.id
    with count_queries() as seen:
        again = client.post("/api/v1/cart/lines", json={"sku_id": sku_id, "quantity": 1}, headers=headers)
    assert not seen.inside_writes().matching(r"FROM skus\b"), seen.inside_writes()
    assert again.status_code == 201
    assert again.get_json()["breakdown"]["lines"][0]["quantity"] == 3
    assert again.get_json() == client.get("/api/v1/cart", headers=headers).get_json()


def test_a_refused_first_add_writes_nothing(app, shop):
    """Most adds on a sale day are of a sold-out item: they must not leave empty carts behind."""
    sku = shop["plain"][0].skus[0]  # stock 50
    user = make_user()
    headers = api_token(user)
    client = new_client(app)
    for body in ({"sku_id": sku.id, "quantity": 51}, {"sku_id": 999_999, "quantity": 1},
                 {"sku_id": sku.id, "quantity": 0}):
        with count_queries() as seen:
            response = client.post("/api/v1/cart/lines", json=body, headers=headers)
        assert response.status_code in (404, 409, 422), response.get_json()
        assert not seen.matching(r"^(INSERT|UPDATE|DELETE|BEGIN IMMEDIATE)"), list(seen)
    assert db.session.execute(select(Cart).where(Cart.user_id == user.id)).first() is None


def test_first_adds_racing_make_one_cart(app, shop):
    """Parallel first adds of one buyer (two tabs, a double tap): one cart, every unit counted."""
    sku_id = shop["plain"][0].skus[0].id
    user_id = make_user().id
    count = 6

    def add(_i):
        return cart_services.add_to_cart(sku_id, 1, user=db.session.get(User, user_id))

    results = run_threads(app, count, add)
    errors = [r for r in results if isinstance(r, Exception)]
    # A buyer's concurrent adds may at worst be told to try again; none may be lost silently.
    assert all(isinstance(e, ConcurrentUpdate) for e in errors), errors
    carts = db.session.execute(select(Cart).where(Cart.user_id == user_id)).scalars().all()
    assert len(carts) == 1
    assert _lines(db.session.get(User, user_id)) == {sku_id: count - len(errors)}


def test_a_cart_made_meanwhile_takes_the_add(app, shop, monkeypatch):
    """The look-up found no cart, but a parallel request made one before this add's insert:
    the unique owner index refuses the new cart and the add goes to that one."""
    sku = shop["plain"][0].skus[0]
    user = make_user()
    with app.test_request_context():
        login_user(user)
        cart_services.add_to_cart(sku.id, 2)
        real = cart_services.find_cart
        calls = []

        def stale_once(*args, **kwargs):
            calls.append(args)
            return None if len(calls) == 1 else real(*args, **kwargs)

        monkeypatch.setattr(cart_services, "find_cart", stale_once)
        cart_services._forget()
        assert cart_services.add_to_cart(sku.id, 3).quantity == 5
    assert len(calls) == 2
    assert db.session.execute(select(func.count()).select_from(Cart).where(Cart.user_id == user.id)).scalar() == 1
    assert _lines(user) == {sku.id: 5}


def test_a_line_added_meanwhile_is_added_to(app, shop):
    """Another request of the same buyer added this SKU between the look-up and the insert:
    the unique line index refuses the insert and the add goes to that line."""
    sku = shop["plain"][0].skus[0]
    user = make_user()
    with app.test_request_context():
        login_user(user)
        cart = cart_services.get_cart(create=True)
        db.session.execute(insert(CartLine).values(cart_id=cart.id, sku_id=sku.id, quantity=1))
        db.session.commit()
        line = cart_services.add_item(cart, sku.id, 2)
        assert line.quantity == 3
    assert _lines(user) == {sku.id: 3}


def test_a_guest_cart_is_answered_from_memory_too(app, shop):
    client = new_client(app)
    sku = shop["plain"][1].skus[0]
    with client:
        response = client.post("/cart/add", data={"sku_id": sku.id, "quantity": "2"})
        assert response.status_code == 302
    page = client.get("/cart/").get_data(as_text=True)
    assert f'id="line-{sku.id}"' in page and 'value="2"' in page


# -- the pickup option: stores and their stock in one query -------------------------------------


def _pickup_setup(shop):
    """The fixture's store (tracks no stock) closed; A holds 1 of SKU a, B 5 of a and b; C is closed."""
    from plugins.store_pickup import services as pickup
    from plugins.store_pickup import stock
    from plugins.store_pickup.models import Location

    hours = {str(d): "00:00-24:00" for d in range(7)}

    def store(name):
        return pickup.create_location({"name": name, "address": "1 Road", "city": "Shanghai",
                                       "province": "Shanghai", "phone": "", "map_url": "", "hours": hours,
                                       "prep_minutes": 0, "slot_minutes": 60, "slot_capacity": 5})

    a, b = shop["plain"][0].skus[0], shop["plain"][1].skus[0]
    short, enough, closed = store("A short store"), store("B full store"), store("C closed store")
    stock.set_stock(short.id, a.id, 1)
    stock.set_stock(enough.id, a.id, 5)
    stock.set_stock(enough.id, b.id, 5)
    stock.set_stock(closed.id, a.id, 9)
    for row in db.session.execute(select(Location).where(Location.id.not_in([short.id, enough.id]))).scalars():
        row.active = False
    db.session.commit()
    return a, b, short, enough, closed


def test_one_query_answers_as_the_two_did(app, shop, monkeypatch):
    from plugins.store_pickup import services as pickup
    from plugins.store_pickup import stock

    monkeypatch.setitem(app.config, "STOREFRONT_CONFIG_REUSE_SECONDS", 0)  # the query each time, not a copy
    a, b, short, enough, closed = _pickup_setup(shop)
    for needs in ({a.id: 2}, {a.id: 1, b.id: 5}, {b.id: 6}, {a.id: 1}, {shop["plain"][2].skus[0].id: 3}):
        active = pickup.list_locations(active_only=True)
        expected = stock.short_locations([loc.id for loc in active], needs)
        with app.test_request_context():
            with count_queries() as seen:
                locations, found = pickup._locations_and_short(needs)
                # The rest of the request asks again for free.
                assert pickup._active_locations() == locations
                assert pickup._short_locations([loc.id for loc in locations], needs) == found
            assert len(seen.matching(r"^SELECT")) == 1
        assert [loc.id for loc in locations] == [loc.id for loc in active] == [short.id, enough.id]
        assert found == expected
        outside, found_outside = pickup._locations_and_short(needs)  # no request: no memo, same answer
        assert [loc.id for loc in outside] == [short.id, enough.id] and found_outside == expected


def test_the_pickup_option_follows_the_stores_stock(app, shop):
    from plugins.store_pickup import services as pickup
    from plugins.store_pickup import stock

    a, b, short, enough, _closed = _pickup_setup(shop)

    def option(skus, quantity=1):
        buyer = make_user()
        cart = give_cart(buyer, skus)
        for line in cart.lines:
            line.quantity = quantity
        db.session.commit()
        db.session.expire_all()
        with app.test_request_context():
            return pickup.delivery_option(cart_services.find_cart(buyer).lines)

    assert option([a]) is not None  # both stores hold one
    assert option([a], 5) is not None  # B does
    assert option([a], 6) is None  # nobody does
    assert option([b]) is not None  # A does not track b: only the shop's stock limits it there
    stock.set_stock(short.id, b.id, 0)
    assert option([b], 6) is None
    assert option([shop["plain"][2].skus[0]], 40) is not None  # tracked nowhere
    assert option([]) is not None  # no lines: any active store


# -- the checkout page's empty address fields ---------------------------------------------------


def _without_tokens(html: str) -> str:
    html = re.sub(r'name="csrf_token" [^>]*>', "", html)
    return re.sub(r'value="[0-9a-f]{32}"', "", html)  # the idempotency key


def test_empty_fields_come_from_the_cache_typed_ones_never(app, shop):
    from storefront.checkout import views
    from tests.factories import sign_in

    buyer = shop["buyer"]
    give_cart(buyer, [shop["plain"][0].skus[0]])
    client = new_client(app)
    sign_in(client, buyer)
    views._EMPTY_FIELDS.clear()
    first = client.get("/checkout/").get_data(as_text=True)
    assert views._EMPTY_FIELDS  # filled by the first page
    again = client.get("/checkout/").get_data(as_text=True)
    assert _without_tokens(first) == _without_tokens(again)
    assert 'id="name"' in again and 'autocomplete="name"' in again and 'maxlength="120"' in again
    # Typed values and errors are rendered, not taken from the cache, and do not enter it.
    typed = client.post("/checkout/", data={"action": "place", "idempotency_key": "k" * 20, "address_id": "new",
                                            "name": "Li <Lei>", "note": "x" * 501})
    html = typed.get_data(as_text=True)
    assert typed.status_code == 422 and 'value="Li &lt;Lei&gt;"' in html
    assert 'id="note-error"' in html and 'aria-invalid="true"' in html
    after = client.get("/checkout/").get_data(as_text=True)
    assert "Li &lt;Lei&gt;" not in after and 'id="note-error"' not in after
    # Each language has its own labels.
    chinese = client.get("/checkout/?lang=zh_Hans").get_data(as_text=True)
    label = after.split('<label for="line1">')[1].split("<")[0]
    assert label == "Street address" and f'<label for="line1">{label}<' not in chinese


def test_a_cart_written_otherwise_is_no_longer_taken_for_empty(app, shop):
    """Merging a guest cart into the buyer's new cart writes its lines: a later add in the
    same request must not answer with the one line it added."""
    first, second = shop["plain"][0].skus[0], shop["plain"][1].skus[0]
    user = make_user()
    with app.test_request_context():
        guest = cart_services.get_cart(create=True)
        cart_services.add_item(guest, first.id, 2)
        login_user(user)
        merged = cart_services.merge_guest_cart(user)
        assert {line.sku_id for line in merged.lines} == {first.id}
        cart_services.add_item(cart_services.get_cart(create=True), second.id, 1)
        answered = cart_services.get_cart()
        assert {line.sku_id: line.quantity for line in answered.lines} == {first.id: 2, second.id: 1}
    assert _lines(user) == {first.id: 2, second.id: 1}


# -- Prefer: return=minimal --------------------------------------------------------------------


def test_a_minimal_add_does_not_price_the_cart(app, shop):
    """The flash buyer's add: no presale, coupon, credit or pickup look-ups for an item count."""
    sku = shop["plain"][0].skus[0]
    full_headers, minimal_headers = api_token(make_user()), api_token(make_user())
    minimal_headers["Prefer"] = "return=minimal"
    client = new_client(app)
    for headers in (full_headers, minimal_headers):  # the new-cart path, then the usual one
        client.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1}, headers=headers)
    with count_queries() as full:
        client.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1}, headers=full_headers)
    with count_queries() as minimal:
        response = client.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1},
                               headers=minimal_headers)
    assert response.get_json() == {"item_count": 2}
    pricing = r"FROM (coupons_wallet|aftersales_credit_balances|store_pickup_locations)\b"
    assert full.matching(pricing) and not minimal.matching(pricing)
    assert len(minimal) < len(full)

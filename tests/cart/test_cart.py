"""Cart: add/update/remove through pages, services and API; bad input changes nothing."""
from __future__ import annotations

import re

import pytest
from flask import session

from storefront.cart import services
from storefront.cart.models import Cart, CartLine
from storefront.errors import NotFound, OutOfStock, ValidationFailed
from storefront.extensions import db

from ..races import run_threads
from ..checkout.helpers import api_token, fresh, fresh_client, sign_in
from ..factories import login, make_product, make_user


def lines_of(user=None):
    fresh()
    stmt = db.select(CartLine).join(Cart)
    if user is not None:
        stmt = stmt.where(Cart.user_id == user.id)
    return {line.sku_id: line.quantity for line in db.session.execute(stmt).scalars()}


def test_guest_adds_and_sees_cart(web):
    product = make_product(name="Linen shirt", price=12900, stock=5)
    sku = product.skus[0]
    response = web.post("/cart/add", data={"sku_id": sku.id, "quantity": "2"})
    assert response.status_code == 302
    page = web.get("/cart/").get_data(as_text=True)
    assert "Linen shirt" in page
    assert "258.00" in page  # 2 × 129.00
    assert lines_of() == {sku.id: 2}
    web.post("/cart/add", data={"sku_id": sku.id, "quantity": "1"})
    assert lines_of() == {sku.id: 3}


def test_add_more_than_stock_says_only_n_left(web):
    sku = make_product(stock=3).skus[0]
    web.post("/cart/add", data={"sku_id": sku.id, "quantity": "2"})
    response = web.post("/cart/add", data={"sku_id": sku.id, "quantity": "2"}, follow_redirects=True)
    assert "Only 3 left" in response.get_data(as_text=True)
    assert lines_of() == {sku.id: 2}


@pytest.mark.parametrize("quantity", ["0", "-1", str(10**9), "abc", "", "1.5", "99999999999999999999"])
def test_bad_quantities_change_nothing(web, quantity):
    sku = make_product(stock=10).skus[0]
    web.post("/cart/add", data={"sku_id": sku.id, "quantity": "1"})
    response = web.post("/cart/add", data={"sku_id": sku.id, "quantity": quantity}, follow_redirects=True)
    assert response.status_code == 200
    assert "field-error" in response.get_data(as_text=True) or "flash-error" in response.get_data(as_text=True)
    assert lines_of() == {sku.id: 1}
    response = web.post("/cart/update", data={"sku_id": sku.id, "quantity": quantity})
    assert response.status_code == 422
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert lines_of() == {sku.id: 1}


def _quantity_input(html: str, sku_id: int) -> str:
    match = re.search(rf'<input[^>]*id="qty-{sku_id}"[^>]*>', html)
    assert match, html
    return match.group(0)


def test_a_lines_quantity_field_names_its_error(web):
    """Each line's quantity is a required numeric-keyboard field holding the line's
    quantity; after a refused update the error is next to it and tied to it for screen
    readers (aria-invalid, aria-describedby), and the line keeps its quantity."""
    sku = make_product(stock=10).skus[0]
    web.post("/cart/add", data={"sku_id": sku.id, "quantity": "2"})
    field = _quantity_input(web.get("/cart/").get_data(as_text=True), sku.id)
    for attribute in ('name="quantity"', 'value="2"', 'inputmode="numeric"', "required", 'class="qty"'):
        assert attribute in field
    assert "aria-invalid" not in field
    response = web.post("/cart/update", data={"sku_id": sku.id, "quantity": "abc"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field = _quantity_input(html, sku.id)
    assert 'aria-invalid="true"' in field and f'aria-describedby="qty-{sku.id}-error"' in field
    assert 'value="2"' in field
    assert re.search(rf'<p class="field-error" id="qty-{sku.id}-error">[^<]+</p>', html)
    assert lines_of() == {sku.id: 2}


def test_missing_and_inactive_skus_are_refused(web):
    product = make_product(stock=10, skus=2)
    off = product.skus[1]
    off.active = False
    db.session.commit()
    for sku_id in ("999999", str(off.id), "abc", ""):
        response = web.post("/cart/add", data={"sku_id": sku_id, "quantity": "1"}, follow_redirects=True)
        assert response.status_code == 200
        assert "flash-error" in response.get_data(as_text=True)
    fresh()
    hidden = make_product(active=False).skus[0]
    response = web.post("/cart/add", data={"sku_id": hidden.id, "quantity": "1"}, follow_redirects=True)
    assert "no longer available" in response.get_data(as_text=True)
    assert lines_of() == {}


def test_over_line_limit_is_refused(app):
    sku = make_product(stock=500).skus[0]
    user = make_user()
    with app.test_request_context():
        cart = services.get_cart(create=True, user=user)
        services.add_item(cart, sku.id, 99)
        with pytest.raises(ValidationFailed):
            services.add_item(cart, sku.id, 1)
    assert lines_of(user) == {sku.id: 99}


def test_update_and_remove(web):
    sku = make_product(stock=10).skus[0]
    web.post("/cart/add", data={"sku_id": sku.id, "quantity": "1"})
    assert web.post("/cart/update", data={"sku_id": sku.id, "quantity": "4"}).status_code == 302
    assert lines_of() == {sku.id: 4}
    response = web.post("/cart/update", data={"sku_id": sku.id, "quantity": "11"})
    assert response.status_code == 409 and "Only 10 left" in response.get_data(as_text=True)
    assert lines_of() == {sku.id: 4}
    assert web.post("/cart/remove", data={"sku_id": sku.id}).status_code == 302
    assert lines_of() == {}


def test_another_buyers_cart_is_not_reachable(app):
    sku = make_product(stock=10).skus[0]
    alice, bob = make_user(), make_user()
    a, b = fresh_client(app), fresh_client(app)
    sign_in(a, alice)
    sign_in(b, bob)
    a.post("/cart/add", data={"sku_id": sku.id, "quantity": "2"})
    assert "T-shirt" not in b.get("/cart/").get_data(as_text=True)
    assert b.post("/cart/update", data={"sku_id": sku.id, "quantity": "5"}).status_code == 404
    b.post("/cart/remove", data={"sku_id": sku.id})
    assert lines_of(alice) == {sku.id: 2}
    assert lines_of(bob) == {}
    # A guest token in the session of another browser does not reach a buyer's cart either.
    guest = fresh_client(app)
    with guest.session_transaction() as sess:
        sess[services.SESSION_KEY] = "not-a-real-token"
    assert "T-shirt" not in guest.get("/cart/").get_data(as_text=True)


def test_guest_cart_merges_on_login_capped_at_stock(app, web):
    product = make_product(stock=4, skus=2)
    s1, s2 = product.skus
    user = make_user()
    with app.test_request_context():
        cart = services.get_cart(create=True, user=user)
        services.add_item(cart, s1.id, 3)
    web.post("/cart/add", data={"sku_id": s1.id, "quantity": "3"})
    web.post("/cart/add", data={"sku_id": s2.id, "quantity": "1"})
    login(web, user)
    assert lines_of(user) == {s1.id: 4, s2.id: 1}  # 3 + 3 capped at stock 4
    assert db.session.scalar(db.select(db.func.count()).select_from(Cart)) == 1


def test_merge_and_adds_at_once_lose_nothing(app):
    """A buyer signs in (the guest cart merges) while their other tab adds the same SKU:
    every unit of both ends in the cart."""
    sku = make_product(stock=100).skus[0]
    user = make_user()
    with app.test_request_context():
        services.add_to_cart(sku.id, 1, user=user)
        guest = services.get_cart(create=True, user=None)
        services.add_item(guest, sku.id, 5)
        token = guest.token

    def work(i):
        if i == 0:
            with app.test_request_context():
                session[services.SESSION_KEY] = token
                return services.merge_guest_cart(db.session.get(type(user), user.id))
        return services.add_to_cart(sku.id, 1, user=db.session.get(type(user), user.id))

    results = run_threads(app, 5, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert lines_of(user) == {sku.id: 1 + 5 + 4}


def test_get_never_creates_a_cart(web):
    web.get("/cart/")
    assert db.session.scalar(db.select(db.func.count()).select_from(Cart)) == 0


def _cart_count() -> int:
    fresh()
    return db.session.scalar(db.select(db.func.count()).select_from(Cart))


def test_a_refused_add_creates_no_cart(web):
    """A guest's first add that fails (sold out, unknown, bad quantity) leaves no empty cart
    and no cart token behind; the first good add makes the cart."""
    sold_out = make_product(stock=0).skus[0]
    good = make_product(stock=5).skus[0]
    for data in ({"sku_id": sold_out.id, "quantity": "1"}, {"sku_id": "999999", "quantity": "1"},
                 {"sku_id": good.id, "quantity": "0"}, {"sku_id": good.id, "quantity": "6"}):
        with web.session_transaction() as before:
            assert services.SESSION_KEY not in before
        response = web.post("/cart/add", data=data, follow_redirects=True)
        assert "flash-error" in response.get_data(as_text=True)
        assert _cart_count() == 0
    web.post("/cart/add", data={"sku_id": good.id, "quantity": "1"})
    with web.session_transaction() as after:
        assert after.get(services.SESSION_KEY)
    assert _cart_count() == 1 and lines_of() == {good.id: 1}


def test_api_changing_a_line_without_a_cart_is_404_and_creates_none(web):
    sku = make_product(stock=5).skus[0]
    headers = api_token(make_user())
    response = web.patch(f"/api/v1/cart/lines/{sku.id}", json={"quantity": 2}, headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = web.patch(f"/api/v1/cart/lines/{sku.id}", json={"quantity": "x"}, headers=headers)
    assert response.status_code == 422  # the quantity is checked first, as with a cart
    response = web.delete(f"/api/v1/cart/lines/{sku.id}", headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert _cart_count() == 0


def test_service_errors_are_typed(app):
    sku = make_product(stock=1).skus[0]
    user = make_user()
    with app.test_request_context():
        cart = services.get_cart(create=True, user=user)
        with pytest.raises(OutOfStock):
            services.add_item(cart, sku.id, 2)
        with pytest.raises(NotFound):
            services.set_quantity(cart, sku.id, 1)
        with pytest.raises(ValidationFailed):
            services.add_item(cart, sku.id, True)


def test_csrf_is_required(secure_client):
    sku = make_product().skus[0]
    response = secure_client.post("/cart/add", data={"sku_id": sku.id, "quantity": "1"})
    assert response.status_code == 400
    assert lines_of() == {}


# API --------------------------------------------------------------------------------------


def test_api_cart_crud(web):
    sku = make_product(price=5000, stock=5).skus[0]
    user = make_user()
    headers = api_token(user)
    assert web.get("/api/v1/cart").status_code == 401
    body = web.get("/api/v1/cart", headers=headers).get_json()
    assert body["item_count"] == 0
    response = web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 2, "price": 1,
                                                       "unit_price": 1, "user_id": 999}, headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["breakdown"]["subtotal"]["amount"] == 10000
    assert body["breakdown"]["lines"][0]["unit_price"] == 5000
    response = web.patch(f"/api/v1/cart/lines/{sku.id}", json={"quantity": 3}, headers=headers)
    assert response.status_code == 200 and response.get_json()["item_count"] == 3
    response = web.patch(f"/api/v1/cart/lines/{sku.id}", json={"quantity": 6}, headers=headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "out_of_stock"
    response = web.delete(f"/api/v1/cart/lines/{sku.id}", headers=headers)
    assert response.status_code == 200 and response.get_json()["item_count"] == 0
    assert web.delete(f"/api/v1/cart/lines/{sku.id}", headers=headers).status_code == 404


@pytest.mark.parametrize("quantity", [0, -1, 10**9, "abc", None, 2.5])
def test_api_bad_quantities_are_422(web, quantity):
    sku = make_product(stock=5).skus[0]
    headers = api_token(make_user())
    web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1}, headers=headers)
    response = web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": quantity}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"
    response = web.patch(f"/api/v1/cart/lines/{sku.id}", json={"quantity": quantity}, headers=headers)
    assert response.status_code == 422
    assert lines_of() == {sku.id: 1}


def test_api_unknown_and_inactive_skus(web):
    product = make_product(stock=5)
    headers = api_token(make_user())
    response = web.post("/api/v1/cart/lines", json={"sku_id": 999999, "quantity": 1}, headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    product.active = False
    db.session.commit()
    response = web.post("/api/v1/cart/lines", json={"sku_id": product.skus[0].id, "quantity": 1}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "unavailable"
    assert lines_of() == {}


def test_api_routes_are_documented(web):
    spec = web.get("/api/v1/openapi.json").get_json()
    assert {"get"} <= set(spec["paths"]["/api/v1/cart"])
    assert {"post"} <= set(spec["paths"]["/api/v1/cart/lines"])
    assert {"patch", "delete"} <= set(spec["paths"]["/api/v1/cart/lines/{sku_id}"])
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/checkout"])
    assert "post" in spec["paths"]["/api/v1/payments/{reference}/pay-test"]


# -- Prefer: return=minimal (RFC 7240) ----------------------------------------------------------


def test_api_prefer_minimal_answers_the_item_count_only(web):
    sku = make_product(price=5000, stock=5).skus[0]
    other = make_product(price=700, stock=5).skus[0]
    headers = {**api_token(make_user()), "Prefer": "return=minimal"}
    first = web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 2}, headers=headers)
    assert first.status_code == 201 and first.get_json() == {"item_count": 2}
    assert first.headers["Preference-Applied"] == "return=minimal" and "Prefer" in first.headers["Vary"]
    # The cart exists now: the usual path, and a line of another SKU.
    again = web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1}, headers=headers)
    assert again.get_json() == {"item_count": 3}
    more = web.post("/api/v1/cart/lines", json={"sku_id": other.id, "quantity": 1}, headers=headers)
    assert more.get_json() == {"item_count": 4}
    assert lines_of() == {sku.id: 3, other.id: 1}
    patched = web.patch(f"/api/v1/cart/lines/{sku.id}", json={"quantity": 1}, headers=headers)
    assert patched.status_code == 200 and patched.get_json() == {"item_count": 2}
    removed = web.delete(f"/api/v1/cart/lines/{other.id}", headers=headers)
    assert removed.status_code == 200 and removed.get_json() == {"item_count": 1}
    # The cart itself is still answered priced, whatever the client prefers.
    full = web.get("/api/v1/cart", headers=headers).get_json()
    assert full["item_count"] == 1 and full["breakdown"]["subtotal"]["amount"] == 5000


@pytest.mark.parametrize("prefer", ["return=representation", "respond-async", "return", "return=minimalist",
                                    "handling=lenient; return=minimal", ""])
def test_api_other_preferences_get_the_priced_cart(web, prefer):
    sku = make_product(price=5000, stock=5).skus[0]
    headers = {**api_token(make_user()), "Prefer": prefer}
    response = web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1}, headers=headers)
    assert response.status_code == 201
    assert response.get_json()["breakdown"]["subtotal"]["amount"] == 5000
    assert "Preference-Applied" not in response.headers
    assert "Prefer" in response.headers["Vary"]  # the answer depends on it either way


@pytest.mark.parametrize("prefer", ['return="minimal"', "RETURN=Minimal", "respond-async, return=minimal",
                                    "return=minimal; foo=bar"])
def test_api_prefer_minimal_spellings(web, prefer):
    sku = make_product(price=5000, stock=5).skus[0]
    headers = {**api_token(make_user()), "Prefer": prefer}
    response = web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1}, headers=headers)
    assert response.status_code == 201 and response.get_json() == {"item_count": 1}


def test_api_prefer_minimal_errors_are_whole_and_change_nothing(web):
    sku = make_product(stock=2).skus[0]
    headers = {**api_token(make_user()), "Prefer": "return=minimal"}
    assert web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1},
                    headers={"Prefer": "return=minimal"}).status_code == 401
    web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 2}, headers=headers)
    response = web.post("/api/v1/cart/lines", json={"sku_id": sku.id, "quantity": 1}, headers=headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "out_of_stock"
    assert "Preference-Applied" not in response.headers
    response = web.patch(f"/api/v1/cart/lines/{sku.id}", json={"quantity": "x"}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "validation_failed"
    assert lines_of() == {sku.id: 2}


def test_item_count_of_a_guest_and_of_nobody(app):
    sku = make_product(stock=5).skus[0]
    with app.test_request_context():
        assert services.item_count() == 0  # no buyer, no guest cart
        cart = services.get_cart(create=True)
        services.add_item(cart, sku.id, 3)
        assert services.item_count() == 3
    with app.test_request_context():
        assert services.item_count() == 0  # another guest (no cart token in this session)


def test_api_prefer_is_documented(web):
    spec = web.get("/api/v1/openapi.json").get_json()
    for path, method in (("/api/v1/cart/lines", "post"), ("/api/v1/cart/lines/{sku_id}", "patch"),
                         ("/api/v1/cart/lines/{sku_id}", "delete")):
        names = [p.get("name") for p in spec["paths"][path][method].get("parameters", [])]
        assert "Prefer" in names, (path, method, names)


def test_adding_a_sold_out_item_to_a_cart_takes_no_write_transaction(web):
    """After a sell-out most adds are refused, and those buyers mostly have carts: the
    refusal is decided before the write lock (SQLite's is the whole database's) that the
    buyers still checking out wait for. What the line holds is added inside it."""
    from tests.perf.conftest import no_write_transaction

    headers = api_token(make_user())
    in_stock, sold_out = make_product(stock=5).skus[0], make_product(stock=0).skus[0]
    assert web.post("/api/v1/cart/lines", json={"sku_id": in_stock.id, "quantity": 1},
                    headers=headers).status_code == 201
    db.session.commit()
    with no_write_transaction():
        refused = web.post("/api/v1/cart/lines", json={"sku_id": sold_out.id, "quantity": 1}, headers=headers)
        fewer = web.post("/api/v1/cart/lines", json={"sku_id": in_stock.id, "quantity": 6}, headers=headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "out_of_stock"
    assert fewer.status_code == 409 and fewer.get_json()["error"]["details"]["available"] == 5
    over = web.post("/api/v1/cart/lines", json={"sku_id": in_stock.id, "quantity": 5}, headers=headers)
    assert over.status_code == 409 and over.get_json()["error"]["code"] == "out_of_stock"
    assert web.get("/api/v1/cart", headers=headers).get_json()["item_count"] == 1


def test_cart_contents_is_what_the_cart_holds_in_one_light_read(app):
    """``cart_contents``: ids and quantities by SKU, the cart's choices, none of its SKUs'
    or products' rows (free shipping's product-page hint keys on it)."""
    from tests.perf.conftest import count_queries

    buyer = make_user()
    first, second = make_product(price=1000, stock=9), make_product(price=2000, stock=9)
    with app.test_request_context("/"):
        assert services.cart_contents(buyer) is None  # no cart yet
    cart = Cart(user_id=buyer.id, data={"coupon_code": "TEN"})
    db.session.add(cart)
    db.session.flush()
    db.session.add_all([CartLine(cart_id=cart.id, sku_id=second.skus[0].id, quantity=2),
                        CartLine(cart_id=cart.id, sku_id=first.skus[0].id, quantity=1)])
    db.session.commit()
    with app.test_request_context("/"), count_queries() as sent:
        contents = services.cart_contents(buyer)
    assert contents == services.CartContents(cart.id, {"coupon_code": "TEN"},
                                             tuple(sorted([(second.skus[0].id, 2), (first.skus[0].id, 1)])))
    reads = [sql for sql in sent if sql.startswith("SELECT")]
    assert len(reads) == 1 and "skus" not in reads[0] and "products" not in reads[0]
    with app.test_request_context("/"):
        loaded = services.find_cart(buyer)  # a page that loaded the cart: the memo answers
        with count_queries() as sent:
            assert services.cart_contents(buyer) == contents == services.contents_of(loaded)
        assert not [sql for sql in sent if sql.startswith("SELECT")]


def test_cart_contents_of_a_guest_and_of_an_empty_cart(app):
    guest = Cart(token="guest-token", data={})
    db.session.add(guest)
    db.session.commit()
    with app.test_request_context("/"):
        session[services.SESSION_KEY] = "guest-token"
        assert services.cart_contents() == services.CartContents(guest.id, {}, ())
    with app.test_request_context("/"):
        assert services.cart_contents() is None  # no token, no buyer: no cart

"""``find_cart`` reads the cart, its lines, SKUs and products in Core
(``storefront.joined_rows``) and hands them out as the ORM's joined loads would have."""
from __future__ import annotations

from sqlalchemy import inspect, text

from storefront.cart import services
from storefront.cart.models import Cart, CartLine
from storefront.database import write_transaction
from storefront.extensions import db
from storefront.plugins.memo import forget_request_memo

from ..factories import make_product, make_user
from ..perf.conftest import count_queries


def _cart_of(user, *skus) -> Cart:
    cart = Cart(user_id=user.id, data={})
    db.session.add(cart)
    db.session.flush()
    for sku in skus:
        db.session.add(CartLine(cart_id=cart.id, sku_id=sku.id, quantity=2))
    db.session.commit()
    return cart


def _fresh_read(user):
    forget_request_memo(services.MEMO)
    db.session.expunge_all()
    return services.find_cart(user=user)


def test_the_cart_comes_whole_in_one_statement_in_line_order(app):
    buyer = make_user()
    first, second = make_product(name="Tea", skus=1), make_product(name="Cup", skus=1)
    codes = second.skus[0].code, first.skus[0].code
    _cart_of(buyer, second.skus[0], first.skus[0])
    buyer_id = buyer.id
    with count_queries() as seen:
        cart = _fresh_read(db.session.get(type(buyer), buyer_id))
        shown = [(line.sku.product.name, line.sku.code, line.quantity, line.cart is cart) for line in cart.lines]
    assert shown == [("Cup", codes[0], 2, True), ("Tea", codes[1], 2, True)]
    assert len(seen) == 1 and seen.matching("FROM carts"), seen  # the cart with everything
    assert all(inspect(obj).persistent and not inspect(obj).modified
               for obj in (cart, *cart.lines, *(line.sku for line in cart.lines)))


def test_an_empty_cart_has_no_lines_and_no_cart_is_none(app):
    buyer, other = make_user(), make_user()
    _cart_of(buyer)
    assert _fresh_read(buyer).lines == []
    assert _fresh_read(other) is None


def test_a_guest_cart_is_found_by_its_token_only(app):
    sku = make_product().skus[0]
    guest = Cart(user_id=None, token="guest-token-1", data={})
    db.session.add(guest)
    db.session.flush()
    db.session.add(CartLine(cart_id=guest.id, sku_id=sku.id, quantity=1))
    db.session.commit()
    forget_request_memo(services.MEMO)
    assert [line.sku_id for line in services.find_cart(token="guest-token-1").lines] == [sku.id]
    forget_request_memo(services.MEMO)
    assert services.find_cart(token="guest-token-2") is None


def test_objects_the_session_holds_are_kept_and_expired_ones_are_read_again(app):
    """As the ORM's loading: a held object is not overwritten; what the last commit expired
    is set from the same one statement, not loaded again object by object."""
    buyer = make_user()
    product = make_product(name="Kettle", price=5000)
    _cart_of(buyer, product.skus[0])
    sku = product.skus[0]
    sku.price = 4200  # changed here, not yet flushed: the read flushes it first
    forget_request_memo(services.MEMO)
    cart = services.find_cart(user=buyer)
    assert cart.lines[0].sku is sku and sku.price == 4200 and sku not in db.session.dirty
    db.session.commit()  # expires everything
    db.session.execute(text("UPDATE products SET name = 'Kettle 2' WHERE id = :id"), {"id": product.id})
    db.session.commit()
    forget_request_memo(services.MEMO)
    with count_queries() as seen:
        cart = services.find_cart(user=buyer)
        names = [line.sku.product.name for line in cart.lines]
    assert names == ["Kettle 2"]
    assert len(seen.matching("^SELECT")) == 1, "\n".join(seen)


def test_a_line_added_in_this_transaction_is_seen(app):
    buyer = make_user()
    tea, cup = make_product(name="Tea").skus[0], make_product(name="Cup").skus[0]
    cart = _cart_of(buyer, tea)
    with write_transaction():
        db.session.add(CartLine(cart_id=cart.id, sku_id=cup.id, quantity=1))  # pending: flushed by the read
        forget_request_memo(services.MEMO)
        db.session.expire(cart, ["lines"])
        assert sorted(line.sku_id for line in services.find_cart(user=buyer).lines) == sorted([tea.id, cup.id])


def test_adding_reads_the_sku_with_its_product(app):
    sku = make_product(name="Lamp").skus[0]
    sku_id = sku.id
    db.session.expunge_all()
    with count_queries() as seen:
        found, available = services.buyable_sku(sku_id, None)
        name = found.product.name
    assert (found.id, name, available) == (sku_id, "Lamp", 10)
    assert len(seen.matching("FROM skus")) == 1, seen
    assert services.buyable_sku(sku_id, None)[0] is found  # the session's object, as loaded


def test_a_deferred_column_is_left_out_and_loads_when_read(app):
    buyer = make_user()
    product = make_product(name="Scarf")
    product.description = "Long " * 200
    _cart_of(buyer, product.skus[0])
    with count_queries() as seen:
        cart = _fresh_read(buyer)
        name = cart.lines[0].sku.product.name
    assert name == "Scarf" and not seen.matching("description")
    with count_queries() as seen:
        assert cart.lines[0].sku.product.description.startswith("Long Long")
    assert len(seen.matching("description")) == 1

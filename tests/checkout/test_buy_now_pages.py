"""Buy now (立即购买) pages: the product page's button, the one-item checkout page, placing,
refusals, the coupon box's code field, CSRF, signing in on the way, the page cache."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

import plugins.coupons.models  # noqa: F401  (tables in the metadata before the schema is created)
from plugins.coupons import admin_services
from storefront import pagecache
from storefront.cart import services as cart_services
from storefront.cart.models import Cart
from storefront.catalog.models import Sku
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.payments.models import Payment
from storefront.settings import set_settings

from ..conftest import csrf_token_from, make_app_keeping_limits, make_test_app, new_client, pushed_app, rate_limits_on
from ..factories import make_product, make_user, set_plugin_state, sign_in
from .helpers import checkout_form, fresh, make_address

BUY_NOW = "/checkout/buy-now"


def cart_of(user) -> tuple:
    """What the buyer's stored cart holds: lines and plugin choices."""
    fresh()
    cart = db.session.execute(db.select(Cart).where(Cart.user_id == user.id)).scalar_one_or_none()
    if cart is None:
        return None
    return sorted((line.sku_id, line.quantity) for line in cart.lines), dict(cart.data or {})


def counts() -> tuple:
    fresh()
    return (db.session.scalar(db.select(db.func.count()).select_from(Payment)),
            db.session.scalar(db.select(db.func.count()).select_from(Order)))


def buyer_with_cart(app, *items):
    user = make_user()
    with app.test_request_context():
        cart = cart_services.get_cart(create=True, user=user)
        for sku, quantity in items:
            cart_services.add_item(cart, sku.id, quantity)
    return user


def buy_form(sku, quantity=1, action="place", **overrides) -> dict:
    """The buy-now checkout page's form as posted (its hidden item fields included)."""
    return checkout_form(sku_id=str(sku.id), quantity=str(quantity), action=action, **overrides)


@pytest.fixture
def shop(app):
    """A product to buy now and a signed-in buyer whose cart holds something else."""
    item = make_product(name="Flash kettle", price=12900, stock=3).skus[0]
    other = make_product(name="Cart mug", price=3500, stock=9).skus[0]
    return item, other, buyer_with_cart(app, (other, 2))


@pytest.fixture
def web(app):
    return new_client(app)


# the product page --------------------------------------------------------------

def test_product_page_has_buy_now_in_the_add_to_cart_form(app, secure_client):
    product = make_product(name="Rice cooker", stock=4)
    html = secure_client.get(f"/products/{product.slug}").get_data(as_text=True)
    form = html.split('action="/cart/add"', 1)[1].split("</form>", 1)[0]
    button = re.search(r'<button[^>]*formaction="/checkout/buy-now"[^>]*>([^<]*)</button>', form)
    assert button and button.group(1) == "Buy now" and "disabled" not in button.group(0)
    assert 'name="sku_id"' in form and 'name="quantity"' in form and csrf_token_from(form)


def test_product_page_buy_now_is_disabled_when_sold_out(app, client):
    product = make_product(stock=0)
    html = client.get(f"/products/{product.slug}").get_data(as_text=True)
    button = re.search(r'<button[^>]*formaction="/checkout/buy-now"[^>]*>', html).group(0)
    assert "disabled" in button


def test_product_page_buy_now_is_translated(app, client):
    product = make_product()
    html = client.get(f"/products/{product.slug}?lang=zh_Hans").get_data(as_text=True)
    assert "立即购买" in html
    html = client.get(f"/products/{product.slug}?lang=vi").get_data(as_text=True)
    assert "Mua ngay" in html


def test_cached_product_page_token_works_for_buy_now(secure_app, monkeypatch):
    """The button adds nothing per visitor: the cached page's CSRF hole serves it too."""
    monkeypatch.setitem(secure_app.config, "STOREFRONT_PAGE_CACHE_SECONDS", 5)
    cache = secure_app.extensions[pagecache.EXTENSION_KEY]
    cache.clear()
    try:
        product = make_product(stock=4)
        path = f"/products/{product.slug}"
        first, second = new_client(secure_app), new_client(secure_app)
        assert first.get(path).headers.get("X-Page-Cache") == "miss"
        page = second.get(path)
        html = page.get_data(as_text=True)
        assert page.headers.get("X-Page-Cache") == "hit" and 'formaction="/checkout/buy-now"' in html
        token = csrf_token_from(html)
        response = second.post(BUY_NOW, data={"csrf_token": token, "sku_id": product.skus[0].id, "quantity": 1})
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]
        assert first.post(BUY_NOW, data={"csrf_token": token, "sku_id": product.skus[0].id,
                                         "quantity": 1}).status_code == 400  # another visitor's token
    finally:
        cache.clear()


# the checkout page of one item ---------------------------------------------------

def test_buy_now_renders_a_checkout_of_that_item_only(app, web, shop):
    item, other, user = shop
    before = cart_of(user)
    sign_in(web, user)
    response = web.post(BUY_NOW, data={"sku_id": item.id, "quantity": "2"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Flash kettle" in html and "Cart mug" not in html and "258.00" in html
    form = html.split('<form method="post" action="/checkout/buy-now"', 1)[1].split("</form>", 1)[0]
    assert f'name="sku_id" value="{item.id}"' in form and 'name="quantity" value="2"' in form
    assert 'name="idempotency_key"' in form and 'value="refresh"' in form and 'value="place"' in form
    assert "your cart stays as it is" in html
    assert response.headers["Cache-Control"].startswith("no-store")
    assert cart_of(user) == before and counts() == (0, 0)


def test_refresh_keeps_the_item_and_the_choices(app, web, shop):
    item, _other, user = shop
    sign_in(web, user)
    response = web.post(BUY_NOW, data=buy_form(item, 3, action="refresh", note="Ring twice"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "387.00" in html and "Ring twice" in html
    assert 'name="quantity" value="3"' in html
    assert counts() == (0, 0)


def test_place_redirects_to_payment_and_leaves_the_cart(app, web, shop):
    item, _other, user = shop
    before = cart_of(user)
    sign_in(web, user)
    response = web.post(BUY_NOW, data=buy_form(item, 2, note="Fragile"))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert "/pay/" in response.headers["Location"]
    fresh()
    order = db.session.execute(db.select(Order)).scalar_one()
    assert order.user_id == user.id and order.buyer_note == "Fragile"
    assert [(line.sku_id, line.quantity) for line in order.lines] == [(item.id, 2)]
    assert db.session.get(Sku, item.id).stock == 1
    assert cart_of(user) == before


def test_same_key_twice_gives_one_order(app, web, shop):
    item, _other, user = shop
    sign_in(web, user)
    data = buy_form(item, 1)
    first = web.post(BUY_NOW, data=data)
    second = web.post(BUY_NOW, data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert counts() == (1, 1)


@pytest.mark.parametrize("quantity,stock,message", [
    ("1", 0, "Sold out: Flash kettle"),
    ("3", 2, "Only 2 left of Flash kettle."),
    ("0", 5, "Enter a whole number from 1 to"),
    ("abc", 5, "Enter a whole number from 1 to"),
    ("1000", 5, "Enter a whole number from 1 to"),
])
def test_refused_item_goes_back_to_the_product_page(app, web, shop, quantity, stock, message):
    item, _other, user = shop
    db.session.get(Sku, item.id).stock = stock
    db.session.commit()
    before = cart_of(user)
    sign_in(web, user)
    for data in ({"sku_id": item.id, "quantity": quantity}, buy_form(item, quantity)):
        response = web.post(BUY_NOW, data=data)
        assert response.status_code == 303
        slug = db.session.get(Sku, item.id).product.slug
        assert response.headers["Location"].endswith(f"/products/{slug}")
        page = web.get(response.headers["Location"]).get_data(as_text=True)
        assert 'flash flash-error' in page and message in page
    assert cart_of(user) == before and counts() == (0, 0)
    assert db.session.get(Sku, item.id).stock == stock


def test_sold_out_between_page_and_place_goes_back(app, web, shop):
    item, _other, user = shop
    sign_in(web, user)
    assert web.post(BUY_NOW, data={"sku_id": item.id, "quantity": 1}).status_code == 200
    db.session.get(Sku, item.id).stock = 0
    db.session.commit()
    response = web.post(BUY_NOW, data=buy_form(item, 1))
    assert response.status_code == 303 and "/products/" in response.headers["Location"]
    assert "Sold out: Flash kettle" in web.get(response.headers["Location"]).get_data(as_text=True)
    assert counts() == (0, 0)


@pytest.mark.parametrize("sku_id", ["999999", "999999999999999999", "", "x", "-1"])
def test_unknown_sku_is_a_404(app, web, shop, sku_id):
    _item, _other, user = shop
    sign_in(web, user)
    assert web.post(BUY_NOW, data={"sku_id": sku_id, "quantity": 1}).status_code == 404
    assert web.post(BUY_NOW, data=checkout_form(sku_id=sku_id, quantity="1")).status_code == 404
    assert counts() == (0, 0)


def test_bad_address_field_is_shown_next_to_it(app, web, shop):
    item, _other, user = shop
    sign_in(web, user)
    response = web.post(BUY_NOW, data=buy_form(item, phone="call me"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="phone-error"' in html
    assert f'name="sku_id" value="{item.id}"' in html  # still the buy-now page
    assert counts() == (0, 0)


def test_another_buyers_address_is_refused(app, web, shop):
    item, _other, user = shop
    theirs = make_address(make_user(), name="Stranger")
    before = cart_of(user)
    sign_in(web, user)
    response = web.post(BUY_NOW, data=buy_form(item, address_id=str(theirs.id), name="", phone="", line1=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and 'class="field-error"' in html and "Stranger" not in html
    assert 'action="/checkout/buy-now"' in html
    assert counts() == (0, 0) and cart_of(user) == before
    mine = make_address(user, name="Han Meimei")
    response = web.post(BUY_NOW, data=buy_form(item, address_id=str(mine.id), name="", phone="", line1=""))
    assert response.status_code == 302
    fresh()
    assert db.session.execute(db.select(Order)).scalar_one().ship_name == "Han Meimei"


def test_cart_checkout_is_unchanged(app, web, shop):
    _item, _other, user = shop
    sign_in(web, user)
    html = web.get("/checkout/").get_data(as_text=True)
    assert '<form method="post" action="/checkout/"' in html and "Cart mug" in html
    assert 'name="sku_id"' not in html and "your cart stays as it is" not in html


# signing in and CSRF -------------------------------------------------------------

def test_anonymous_buy_now_signs_in_then_comes_back(app, web, shop):
    item, _other, user = shop
    response = web.post(BUY_NOW, data={"sku_id": item.id, "quantity": "2"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/account/login"
    back = parse_qs(location.query)["next"][0]
    assert back == f"{BUY_NOW}?sku_id={item.id}&quantity=2"
    assert web.get(back).status_code == 302  # still signed out: the sign-in page again
    sign_in(web, user)
    page = web.get(back)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Flash kettle" in html and 'name="quantity" value="2"' in html
    assert counts() == (0, 0)


def test_buy_now_needs_the_csrf_token(app, secure_client, shop):
    item, _other, user = shop
    sign_in(secure_client, user)
    assert secure_client.post(BUY_NOW, data={"sku_id": item.id, "quantity": 1}).status_code == 400
    token = csrf_token_from(secure_client.get(f"/products/{db.session.get(Sku, item.id).product.slug}")
                            .get_data(as_text=True))
    page = secure_client.post(BUY_NOW, data={"sku_id": item.id, "quantity": 1, "csrf_token": token})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    form = buy_form(item, 1)
    assert secure_client.post(BUY_NOW, data=form).status_code == 400
    assert counts() == (0, 0)
    placed = secure_client.post(BUY_NOW, data={**form, "csrf_token": csrf_token_from(html)})
    assert placed.status_code == 302 and "/pay/" in placed.headers["Location"]


# the coupon box --------------------------------------------------------------------

@pytest.fixture(scope="session")
def _coupons_app(_app, database_url, instance_dir):
    return make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=["plugins.coupons"])


@pytest.fixture
def coupons(app, _coupons_app):
    """The shop with the coupons plugin on, and the code TEN (¥10 off)."""
    with pushed_app(_coupons_app):
        set_plugin_state("coupons")
        admin_services.create_coupon({"name": "Ten off", "code": "TEN", "kind": "fixed", "amount": 1000,
                                      "per_buyer_limit": None})
        yield _coupons_app


@pytest.fixture
def cweb(coupons):
    return new_client(coupons)


def test_coupon_box_is_part_of_the_buy_now_form(coupons, cweb, shop):
    item, _other, user = shop
    sign_in(cweb, user)
    html = cweb.post(BUY_NOW, data={"sku_id": item.id, "quantity": 1}).get_data(as_text=True)
    form = html.split('action="/checkout/buy-now"', 1)[1].split("</form>", 1)[0]
    assert 'name="coupons_code"' in form and 'name="coupons_none" value="1"' in form
    assert "/p/coupons/" not in html  # no apply/remove/use forms: they change the stored cart


def test_typed_code_and_refresh_shows_the_discount(coupons, cweb, shop):
    item, _other, user = shop
    before = cart_of(user)
    sign_in(cweb, user)
    response = cweb.post(BUY_NOW, data=buy_form(item, 1, action="refresh", coupons_code=" ten "))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:500]
    assert "Ten off" in html and "119.00" in html  # 129.00 - 10.00
    assert 'name="coupons_code" value="ten"' in html and "Press “Apply”" not in html
    assert cart_of(user) == before and counts() == (0, 0)


def test_place_with_code_discounts_the_order_only(coupons, cweb, shop):
    item, _other, user = shop
    before = cart_of(user)
    sign_in(cweb, user)
    response = cweb.post(BUY_NOW, data=buy_form(item, 1, coupons_code="TEN"))
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    fresh()
    order = db.session.execute(db.select(Order)).scalar_one()
    assert order.discount_total == 1000 and order.total == 12900 - 1000 + order.shipping_total
    assert cart_of(user) == before  # the cart's coupon choice was never touched either


def test_no_coupon_checkbox(coupons, cweb, shop):
    item, _other, user = shop
    sign_in(cweb, user)
    html = cweb.post(BUY_NOW, data=buy_form(item, 1, action="refresh", coupons_code="TEN",
                                            coupons_none="1")).get_data(as_text=True)
    assert "Ten off" not in html and "129.00" in html
    assert re.search(r'name="coupons_none" value="1"\s+checked', html)


def test_unknown_code_is_shown_next_to_its_field(coupons, cweb, shop):
    item, _other, user = shop
    before = cart_of(user)
    sign_in(cweb, user)
    for action in ("refresh", "place"):
        response = cweb.post(BUY_NOW, data=buy_form(item, 1, action=action, coupons_code="NOSUCH"))
        html = response.get_data(as_text=True)
        assert response.status_code == 422, (action, html[:500])
        field = html.split('<label for="coupons_code">', 1)[1].split("</div>", 1)[0]
        assert 'aria-invalid="true"' in field and 'value="NOSUCH"' in field
        assert 'id="coupons_code-error">This coupon code does not exist.' in field
        top = html.split('<form method="post"', 1)[0]
        assert "This coupon code does not exist." not in top and "Press “Apply”" not in top
        assert f'name="sku_id" value="{item.id}"' in html
    assert counts() == (0, 0) and cart_of(user) == before


@pytest.fixture(scope="session")
def _limited_coupons_app(_app, database_url, instance_dir):
    return make_app_keeping_limits(database_url, instance_dir, STOREFRONT_PLUGINS=["plugins.coupons"],
                                   RATELIMIT_ENABLED=True)


def test_too_many_codes_are_refused_next_to_the_field(coupons, shop, _limited_coupons_app):
    item, _other, user = shop
    before = cart_of(user)
    with pushed_app(_limited_coupons_app), rate_limits_on():
        set_plugin_state("coupons", True, {"code_attempts_per_minute": 2})
        web = new_client(_limited_coupons_app)
        sign_in(web, user)
        answers = [web.post(BUY_NOW, data=buy_form(item, 1, action=action, coupons_code=f"GUESS{i}"))
                   for i, action in enumerate(("refresh", "refresh", "refresh", "place"))]
        assert [r.status_code for r in answers] == [422, 422, 429, 429]
        for response in answers[2:]:
            html = response.get_data(as_text=True)
            field = html.split('<label for="coupons_code">', 1)[1].split("</div>", 1)[0]
            assert 'id="coupons_code-error">Too many coupon codes tried.' in field, field
            assert f'name="sku_id" value="{item.id}"' in html  # still the item's checkout, priced
    assert counts() == (0, 0) and cart_of(user) == before


def test_coupon_box_is_translated(coupons, cweb, shop):
    item, _other, user = shop
    sign_in(cweb, user)
    cweb.get("/?lang=zh_Hans")
    html = cweb.post(BUY_NOW, data={"sku_id": item.id, "quantity": 1}).get_data(as_text=True)
    assert "只购买此商品" in html and "不使用优惠券" in html


def test_max_line_quantity_setting_applies(app, web, shop):
    item, _other, user = shop
    set_settings({"max_line_quantity": 2})
    db.session.commit()
    sign_in(web, user)
    response = web.post(BUY_NOW, data={"sku_id": item.id, "quantity": 3})
    assert response.status_code == 303
    assert "Enter a whole number from 1 to 2." in web.get(response.headers["Location"]).get_data(as_text=True)

"""A whole buyer and seller journey over real HTTP against a real server.

The app runs in werkzeug's threaded server on an ephemeral port with CSRF
and rate limits on, exactly as a browser would meet it: the test reads each
form's hidden fields (CSRF token, idempotency key) from the HTML it was
served and posts them back with a cookie jar.
"""
from __future__ import annotations

import http.cookiejar
import threading
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
from werkzeug.serving import make_server

from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus

from ..conftest import make_test_app
from ..factories import PASSWORD, make_product, make_staff, make_user


class _Forms(HTMLParser):
    """Collects every form's action and its named input values."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get"),
                               "fields": {}})
        elif tag in ("input", "textarea", "select") and self.forms and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in attrs:
                self.forms[-1]["fields"].setdefault(attrs["name"], None)
                return
            if kind == "submit":
                return
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        url = path if path.startswith("http") else self.base + path
        body = urllib.parse.urlencode({k: v for k, v in data.items() if v is not None}).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=body), timeout=30) as resp:
                return resp.status, resp.geturl(), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, url, exc.read().decode()

    def form(self, html: str, action_part: str) -> dict:
        parser = _Forms()
        parser.feed(html)
        for form in parser.forms:
            if action_part in form["action"] and form["method"].lower() == "post":
                return dict(form)
        raise AssertionError(f"no POST form with action containing {action_part!r}")

    def submit(self, page_path: str, action_part: str, **values) -> tuple[int, str, str]:
        status, _url, html = self.request(page_path)
        assert status == 200, (page_path, status)
        form = self.form(html, action_part)
        fields = {k: v for k, v in form["fields"].items() if v is not None}
        fields.update(values)
        return self.request(form["action"], fields)


@pytest.fixture
def live_server(app, database_url, instance_dir):
    live_app = make_test_app(database_url, instance_dir, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True,
                             TESTING=False)
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_buyer_orders_pays_and_confirms_after_staff_ships(app, live_server):
    product = make_product(name="Linen shirt", price=12900, stock=3)
    sku_id = product.skus[0].id
    buyer = make_user(email="live-buyer@example.com")
    staff = make_staff(email="live-staff@example.com")

    shopper = Browser(live_server)
    status, _, html = shopper.request(f"/products/{product.slug}")
    assert status == 200 and "Linen shirt" in html
    # Sign in, add to cart through the product page's own form.
    status, url, _ = shopper.submit("/account/login", "/account/login", email=buyer.email, password=PASSWORD)
    assert status == 200 and "/account/login" not in url
    status, _, html = shopper.submit(f"/products/{product.slug}", "/cart/add", sku_id=str(sku_id), quantity="2")
    assert status == 200
    status, _, cart_html = shopper.request("/cart/")
    assert "Linen shirt" in cart_html
    # Checkout with a new address; the server redirects to the test provider's pay page.
    status, pay_url, pay_html = shopper.submit(
        "/checkout/", "/checkout", address_id="new", name="Li Lei", phone="13800138000", province="Zhejiang",
        city="Hangzhou", district="Xihu", line1="1 Wensan Road", postcode="310000", delivery_code="courier",
        action="place")
    assert status == 200 and "/pay/" in pay_url, pay_html[:500]
    db.session.commit()  # end the test's read snapshot: the server wrote meanwhile
    order = db.session.execute(db.select(Order).filter_by(user_id=buyer.id)).scalar_one()
    assert order.status == OrderStatus.PENDING_PAYMENT and order.total == 2 * 12900 + order.shipping_total
    status, _, _ = shopper.submit(pay_url, "/pay/test/callback", outcome="pay")
    assert status == 200
    db.session.commit()
    assert db.session.get(Order, order.id).status == OrderStatus.PAID

    # Staff ship it from the admin order page.
    seller = Browser(live_server)
    seller.submit("/account/login", "/account/login", email=staff.email, password=PASSWORD)
    status, _, _ = seller.submit(f"/admin/orders/{order.number}", f"/admin/orders/{order.number}/ship",
                                 **{"ship-carrier": "SF Express", "ship-tracking_number": "SF1234567890"})
    assert status == 200
    db.session.commit()
    shipped = db.session.get(Order, order.id)
    assert shipped.status == OrderStatus.SHIPPED and shipped.tracking_number == "SF1234567890"

    # The buyer sees it shipped and confirms receipt.
    status, _, html = shopper.request(f"/orders/{order.number}")
    assert status == 200 and "SF1234567890" in html
    status, _, _ = shopper.submit(f"/orders/{order.number}", f"/orders/{order.number}/confirm")
    assert status == 200
    db.session.commit()
    assert db.session.get(Order, order.id).status == OrderStatus.COMPLETED

    # Another buyer cannot see the order, and a form without its CSRF token changes nothing.
    stranger = Browser(live_server)
    other = make_user(email="live-other@example.com")
    stranger.submit("/account/login", "/account/login", email=other.email, password=PASSWORD)
    assert stranger.request(f"/orders/{order.number}")[0] == 404
    assert stranger.request(f"/orders/{order.number}/confirm", {})[0] in (400, 404)

"""Labels and promises everywhere the item appears, refusals (window, quota, limit), the split by promise."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from plugins.presale.models import Campaign, Quota
from storefront.cart.models import CartLine
from storefront.catalog.models import Sku
from storefront.clock import utcnow
from storefront.errors import CheckoutBlocked, OutOfStock
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.plugins import hookimpl
from storefront.plugins.host import get_host
from tests.checkout import helpers
from tests.factories import make_product, make_user, sign_in

from .conftest import api_token, checkout, fill_cart, fresh, full_campaign, new_client, pay, set_enabled

SHIP_DAY = date(2026, 12, 5)


def test_badge_and_exact_promise_on_card_page_cart_checkout(app, enabled):
    _c, product = full_campaign(ship_by=SHIP_DAY)
    buyer = make_user()
    web = new_client(app)
    page = web.get(f"/products/{product.slug}").get_data(as_text=True)
    assert "Presale" in page and "Ships by Dec 5" in page
    listing = web.get("/products").get_data(as_text=True)
    assert "Presale" in listing and "Ships by Dec 5" in listing
    sign_in(web, buyer)
    fill_cart(buyer, (product.skus[0].id, 1))
    cart = web.get("/cart/").get_data(as_text=True)
    assert "Presale" in cart and "Ships by Dec 5" in cart
    page = web.get("/checkout/").get_data(as_text=True)
    assert "Presale" in page and "Ships by Dec 5" in page


def test_promise_is_locale_formatted_in_the_api(app, enabled):
    _c, product = full_campaign(ship_by=SHIP_DAY)
    web = new_client(app)
    body = web.get(f"/api/v1/products/{product.slug}", headers={"Accept-Language": "zh-CN"}).get_json()
    sku = body["skus"][0] if "skus" in body else body
    assert any(b["text"] for b in sku["badges"])
    assert "12月5日" in sku["ship_promise"]
    terms = web.get(f"/api/v1/presale/products/{product.slug}").get_json()
    assert terms[0]["mode"] == "full" and terms[0]["remaining"] == 10 and terms[0]["ship_promise"]


def test_within_days_promise_and_presale_price(app, enabled):
    _c, product = full_campaign(days=15, price=8800)
    buyer = make_user()
    result = checkout(buyer, (product.skus[0].id, 1))
    order = result.orders[0]
    assert order.lines[0].unit_price == 8800
    assert order.lines[0].data["ship_promise"] == "Ships within 15 days of payment"
    payment = pay(result.payment.reference)
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.PAID
    assert order.ship_by - payment.paid_at == timedelta(days=15)


def test_fixed_date_promise_sets_ship_by_end_of_that_shop_day(app, enabled):
    _c, product = full_campaign(ship_by=SHIP_DAY)
    result = checkout(make_user(), (product.skus[0].id, 1))
    pay(result.payment.reference)
    order = db.session.get(Order, result.orders[0].id)
    # Asia/Shanghai: 5 Dec 23:59:59 local is 5 Dec 15:59:59 UTC.
    assert order.ship_by.isoformat() == "2026-12-05T15:59:59"


def test_presale_sells_from_quota_not_spot_stock(app, enabled):
    _c, product = full_campaign(quota=3, stock=0)
    result = checkout(make_user(), (product.skus[0].id, 2))
    fresh()
    assert db.session.get(Sku, product.skus[0].id).stock == 0
    quota = db.session.execute(db.select(Quota)).scalar_one()
    assert quota.sold == 2
    assert result.orders[0].lines[0].data["no_stock_release"] is True


def test_mixed_cart_splits_into_one_order_per_promise_paid_once(app, enabled):
    _a, by_date = full_campaign(ship_by=SHIP_DAY)
    _b, in_days = full_campaign(days=10)
    spot = make_product(price=5000, stock=5)
    buyer = make_user()
    web = new_client(app)
    sign_in(web, buyer)
    fill_cart(buyer, (by_date.skus[0].id, 1), (in_days.skus[0].id, 1), (spot.skus[0].id, 1))
    page = web.get("/checkout/").get_data(as_text=True)
    assert "This checkout becomes 3 orders" in page and "one payment" in page
    from storefront.checkout.services import place_order
    from tests.checkout.helpers import ADDRESS

    result = place_order(buyer, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    assert len(result.orders) == 3
    assert result.payment.amount == sum(o.total for o in result.orders)
    promises = sorted(str(o.data["group"]["ship_promise"]) for o in result.orders)
    assert promises == ["None", "Ships by Dec 5", "Ships within 10 days of payment"]
    pay(result.payment.reference)
    assert {db.session.get(Order, o.id).status for o in result.orders} == {OrderStatus.PAID}


def test_refused_before_the_window_opens_even_when_forged(app, enabled):
    now = utcnow()
    _c, product = full_campaign(starts=now + timedelta(days=1), ends=now + timedelta(days=5))
    buyer = make_user()
    web = new_client(app)
    assert "Presale opens" in web.get(f"/products/{product.slug}").get_data(as_text=True)
    with pytest.raises(CheckoutBlocked) as info:
        checkout(buyer, (product.skus[0].id, 1))
    assert "Presale opens" in info.value.message
    # The API (a hand-made request) gets the same refusal, with a stable code.
    response = new_client(app).post("/api/v1/checkout", headers=api_token(buyer),
                                    json={"idempotency_key": uuid.uuid4().hex, "name": "Li Lei",
                                          "phone": "13800138000", "line1": "1 Keji Road"})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "checkout_blocked"
    assert db.session.execute(db.select(db.func.count(Order.id))).scalar() == 0


def test_after_the_window_the_presale_is_over(app, enabled):
    campaign, product = full_campaign(stock=0)
    buyer = make_user()
    fill_cart(buyer, (product.skus[0].id, 1))
    campaign.ends_at = utcnow() - timedelta(minutes=1)
    campaign.starts_at = utcnow() - timedelta(days=2)
    db.session.commit()
    # No presale any more: the SKU has no spot stock, so nothing is sold by accident.
    with pytest.raises(CheckoutBlocked) as info:
        from storefront.checkout.services import place_order
        from tests.checkout.helpers import ADDRESS

        place_order(buyer, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    assert "Sold out" in info.value.message


def test_beyond_quota_is_refused(app, enabled):
    _c, product = full_campaign(quota=2)
    with pytest.raises(CheckoutBlocked) as info:
        checkout(make_user(), (product.skus[0].id, 3))
    assert "Only 2 left" in info.value.message
    checkout(make_user(), (product.skus[0].id, 2))
    with pytest.raises(CheckoutBlocked) as sold_out:
        checkout(make_user(), (product.skus[0].id, 1))
    assert "sold out" in sold_out.value.message.lower()


def test_per_buyer_limit_across_checkouts(app, enabled):
    _c, product = full_campaign(quota=10, limit=2)
    buyer = make_user()
    with pytest.raises(CheckoutBlocked):
        checkout(buyer, (product.skus[0].id, 3))
    db.session.execute(db.delete(CartLine))
    db.session.commit()
    checkout(buyer, (product.skus[0].id, 2))
    with pytest.raises(CheckoutBlocked) as info:
        checkout(buyer, (product.skus[0].id, 1))
    assert "Limit reached" in info.value.message
    checkout(make_user(), (product.skus[0].id, 2))  # another buyer has their own limit


def test_order_placing_refuses_when_quota_went_meanwhile(app, enabled, monkeypatch):
    # A forged or stale submission that passed the page checks still cannot oversell.
    _c, product = full_campaign(quota=1)
    monkeypatch.setattr("plugins.presale.services.validate_checkout", lambda checkout: [])
    buyer = make_user()
    fill_cart(buyer, (product.skus[0].id, 1))
    db.session.execute(db.update(Quota).values(sold=1))
    db.session.commit()
    from plugins.presale import services

    monkeypatch.setattr(services, "availability",
                        lambda c, q, b, n: services.Availability(1, None, None))
    with pytest.raises(OutOfStock) as info:
        from storefront.checkout.services import place_order
        from tests.checkout.helpers import ADDRESS

        place_order(buyer, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    assert info.value.code == "presale_sold_out"
    assert db.session.execute(db.select(db.func.count(Order.id))).scalar() == 0


class _StaffEndsTheCampaign:
    """Staff end (or switch off) the campaign between the checkout's pricing and its quota
    UPDATE: written in the checkout's own transaction, just before the presale takes its quota."""

    def __init__(self, values):
        self.values = values

    @hookimpl(tryfirst=True)
    def order_placing(self, order, checkout):
        db.session.execute(db.update(Campaign.__table__).values(**self.values))  # Core: as another session, no sync


@pytest.mark.parametrize("change", ["switched_off", "ended"])
def test_a_campaign_ended_after_pricing_sells_nothing(app, enabled, change):
    """The checkout writes the campaign as it priced it; the quota's UPDATE checks it is still open."""
    campaign, product = full_campaign(quota=5)
    buyer = make_user()
    fill_cart(buyer, (product.skus[0].id, 1))
    values = {"active": False} if change == "switched_off" else {"ends_at": utcnow() - timedelta(seconds=1)}
    with helpers.plugin(app, _StaffEndsTheCampaign(values)):
        response = new_client(app).post("/api/v1/checkout", headers=api_token(buyer), json={
            "idempotency_key": uuid.uuid4().hex, "name": "Li Lei", "phone": "13800138000", "line1": "1 Keji Road"})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["code"] == "presale_closed"
    fresh()
    assert db.session.execute(db.select(db.func.count(Order.id))).scalar() == 0
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0
    assert db.session.get(Campaign, campaign.id).active  # the hook's write went with the rollback


def test_disabled_plugin_hides_labels_and_stops_presale_sales(app):
    set_enabled(True)
    _c, product = full_campaign(quota=5, stock=0)
    set_enabled(False)
    get_host().forget_states()
    web = new_client(app)
    page = web.get(f"/products/{product.slug}").get_data(as_text=True)
    assert "Presale" not in page and "Ships by" not in page
    assert web.get(f"/api/v1/presale/products/{product.slug}").status_code == 404
    with pytest.raises(CheckoutBlocked) as info:
        checkout(make_user(), (product.skus[0].id, 1))
    assert "Sold out" in info.value.message  # not sold from (empty) spot stock, no presale
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0

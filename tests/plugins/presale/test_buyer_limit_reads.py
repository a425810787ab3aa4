"""The buyer's count against a presale's per-buyer limit: read once a request, read again
after the request changed it."""
from __future__ import annotations

from sqlalchemy import update

from plugins.presale import services
from storefront.database import write_transaction
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from tests.factories import make_product, make_user, sign_in
from tests.perf.conftest import count_queries

from .conftest import checkout, full_campaign, new_client

COUNT_READ = r"FROM presale_buyer_counts"


def _twelve_sku_campaign(limit=2):
    product = make_product(price=10000, stock=0, skus=12)
    return full_campaign(product, limit=limit, quotas={s.id: 5 for s in product.skus})


def test_a_product_page_of_twelve_skus_reads_the_count_once(app, enabled, buyer):
    _campaign, product = _twelve_sku_campaign()
    web = new_client(app)
    sign_in(web, buyer)
    with count_queries() as seen:
        page = web.get(f"/products/{product.slug}")
        api = web.get(f"/api/v1/presale/products/{product.slug}")
    assert page.status_code == 200 and api.status_code == 200
    assert len(seen.matching(COUNT_READ)) == 2  # one a request, not one a SKU
    terms = api.get_json()
    assert len(terms) == 12 and all(t["remaining"] == 2 for t in terms)  # the limit, not the quota of 5


def test_an_anonymous_page_never_reads_it(app, enabled):
    _campaign, product = _twelve_sku_campaign()
    with count_queries() as seen:
        assert new_client(app).get(f"/products/{product.slug}").status_code == 200
    assert seen.matching(COUNT_READ) == []


def test_taking_and_giving_back_in_the_request_reads_it_again(app, enabled):
    campaign, product = _twelve_sku_campaign(limit=3)
    buyer = make_user()
    [order] = checkout(buyer, (product.skus[0].id, 1)).orders
    order_id = order.id
    db.session.execute(update(Order).where(Order.id == order_id).values(status=OrderStatus.CLOSED))
    db.session.commit()
    with app.test_request_context("/"):
        assert services.bought_by(campaign.id, buyer.id) == 1
        with write_transaction():
            services._take_buyer_limit(campaign, buyer.id, 2)
        assert services.bought_by(campaign.id, buyer.id) == 3
        assert services.release_order(order_id) == 1  # the closed order gives its one back
        assert services.bought_by(campaign.id, buyer.id) == 2
    # Outside a request nothing is kept: every call reads.
    with count_queries() as seen:
        assert services.bought_by(campaign.id, buyer.id) == services.bought_by(campaign.id, buyer.id) == 2
    assert len(seen.matching(COUNT_READ)) == 2

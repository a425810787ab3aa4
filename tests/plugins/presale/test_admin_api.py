"""Seller side: the presale list and forms, quotas, the staff API, permissions, demo data, notifications."""
from __future__ import annotations

from datetime import timedelta

from plugins.presale import campaigns
from plugins.presale.models import Campaign, Quota
from storefront.catalog.models import Product
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.notify.models import InboxMessage
from storefront.orders.models import Order
from tests.factories import make_product, make_staff, make_user, sign_in

from .conftest import api_token, checkout, deposit_campaign, fresh, full_campaign, new_client, pay, set_enabled


def staff_client(app):
    web = new_client(app)
    sign_in(web, make_staff())
    return web


def _options(page: str) -> list[str]:
    import re

    select = page.split('id="presale-product"', 1)[1].split("</select>", 1)[0]
    return re.findall(r"<option value=\"\d+\">([^<]*)</option>", select)


def test_new_presale_picker_is_bounded_and_searchable(app, enabled):
    """The product list of "New presale" holds the newest 50 (not the whole catalogue), by name;
    a search narrows it by name, wildcards taken literally, the text shown escaped."""
    from plugins.presale.admin import PRODUCT_CHOICES

    for i in range(PRODUCT_CHOICES + 5):
        make_product(name=f"Jacket {i:03d}")
    make_product(name="Scarf 100% wool")
    db.session.commit()
    web = staff_client(app)
    page = web.get("/admin/presale/").get_data(as_text=True)
    shown = _options(page)
    assert len(shown) == PRODUCT_CHOICES and shown == sorted(shown)
    assert "Scarf 100% wool" in shown and "Jacket 000" not in shown  # the newest ones
    assert "search by name for the others" in page
    narrowed = _options(web.get("/admin/presale/?q=jacket 00").get_data(as_text=True))
    assert narrowed == [f"Jacket {i:03d}" for i in range(10)]
    assert _options(web.get("/admin/presale/?q=100%").get_data(as_text=True)) == ["Scarf 100% wool"]
    assert _options(web.get("/admin/presale/?q=%25").get_data(as_text=True)) == ["Scarf 100% wool"]
    none = web.get("/admin/presale/?q=<b>x</b>").get_data(as_text=True)
    assert 'id="presale-product"' not in none and "&lt;b&gt;x&lt;/b&gt;" in none and "<b>x</b>" not in none
    jacket = db.session.execute(db.select(Product.id).where(Product.name == "Jacket 003")).scalar()
    chosen = web.get(f"/admin/presale/new?product_id={jacket}")
    assert chosen.status_code == 200 and "Jacket 003" in chosen.get_data(as_text=True)


def test_presale_list_shows_quota_sold_deposits_and_risk(app, enabled):
    campaign, product = deposit_campaign(quota=7)
    result = checkout(make_user(), (product.skus[0].id, 2))
    pay(result.payment.reference)
    _f, full_product = full_campaign(days=1)
    paid = checkout(make_user(), (full_product.skus[0].id, 1))
    pay(paid.payment.reference)  # ship-by within 24 h: at risk
    page = staff_client(app).get("/admin/presale/").get_data(as_text=True)
    assert product.name in page and "Deposits paid" in page and "Balances outstanding" in page
    rows = {r.campaign.id: r for r in campaigns.campaign_stats(campaigns.list_campaigns())}
    row = rows[campaign.id]
    assert (row.quota, row.sold, row.remaining) == (7, 2, 5)
    assert (row.deposits_paid, row.balances_paid, row.balances_outstanding) == (1, 0, 1)
    assert rows[_f.id].at_risk == 1 and rows[_f.id].overdue == 0
    later = campaigns.campaign_stats(campaigns.list_campaigns(), utcnow() + timedelta(days=2))
    assert {r.campaign.id: r.overdue for r in later}[_f.id] == 1
    assert "Due within 24 h" in page


def test_create_and_edit_through_the_admin_form(app, enabled):
    product = make_product(price=30000, stock=0, skus=2)
    web = staff_client(app)
    assert product.skus[0].code in web.get(f"/admin/presale/new?product_id={product.id}").get_data(as_text=True)
    form = {"product_id": product.id, "mode": "deposit", "starts_at": "2026-11-01T10:00",
            "ends_at": "2026-11-11T00:00", "promise_kind": "date", "ship_by_date": "2026-11-20",
            "deposit": "50.00", "deposit_value": "100.00", "balance_opens_at": "2026-11-11T00:00",
            "balance_closes_at": "2026-11-12T00:00", "active": "y", f"quota_{product.skus[0].id}": "20"}
    response = web.post("/admin/presale/new", data=form)
    assert response.status_code == 303
    campaign = db.session.execute(db.select(Campaign)).scalar_one()
    assert campaign.deposit == 5000 and campaign.deposit_value == 10000
    assert campaign.starts_at.isoformat() == "2026-11-01T02:00:00"  # shop time (UTC+8) -> UTC
    assert [q.sku_id for q in campaign.quotas] == [product.skus[0].id]
    bad = dict(form, deposit_value="400.00")
    page = web.post(f"/admin/presale/{campaign.id}", data=bad)
    assert page.status_code == 422 and "less than the price" in page.get_data(as_text=True)
    no_quota = dict(form)
    del no_quota[f"quota_{product.skus[0].id}"]
    page = web.post("/admin/presale/new", data=no_quota)
    assert page.status_code == 422 and "at least one variant" in page.get_data(as_text=True)
    raised = dict(form, **{f"quota_{product.skus[0].id}": "40", f"quota_{product.skus[1].id}": "5"})
    assert web.post(f"/admin/presale/{campaign.id}", data=raised).status_code == 303
    fresh()
    assert sorted(q.quota for q in db.session.get(Campaign, campaign.id).quotas) == [5, 40]


def test_quota_can_be_raised_but_not_below_sold(app, enabled):
    campaign, product = full_campaign(quota=3)
    checkout(make_user(), (product.skus[0].id, 2))
    web = staff_client(app)
    sku_id = product.skus[0].id
    assert web.post(f"/admin/presale/{campaign.id}/quota/{sku_id}", data={"quota": "1"}).status_code == 303
    assert db.session.execute(db.select(Quota.quota)).scalar() == 3
    web.post(f"/admin/presale/{campaign.id}/quota/{sku_id}", data={"quota": "9"})
    fresh()
    assert db.session.execute(db.select(Quota.quota)).scalar() == 9


def test_validation_rules(app, enabled):
    product = make_product(price=10000, stock=0)
    now = utcnow()
    base = {"product_id": product.id, "mode": "full", "starts_at": now, "ends_at": now + timedelta(days=1),
            "promise_kind": "days", "ship_within_days": 5, "quotas": {product.skus[0].id: 5}}
    cases = [({"ends_at": now}, "ends_at"), ({"ship_within_days": None}, "ship_within_days"),
             ({"ship_within_days": 0}, "ship_within_days"), ({"promise_kind": "soon"}, "promise_kind"),
             ({"quotas": {999999: 1}}, "quotas"), ({"quotas": {product.skus[0].id: -1}}, "quotas"),
             ({"mode": "deposit", "deposit": None}, "deposit"), ({"price": 0}, "price"),
             ({"mode": "deposit", "deposit": 100, "deposit_value": 50, "balance_opens_at": now,
               "balance_closes_at": now + timedelta(days=1)}, "deposit_value"),
             ({"mode": "deposit", "deposit": 100, "balance_opens_at": now + timedelta(days=1),
               "balance_closes_at": now}, "balance_closes_at")]
    from storefront.errors import ValidationFailed
    import pytest

    for change, field in cases:
        with pytest.raises(ValidationFailed) as info:
            campaigns.create_campaign({**base, **change}, None)
        assert info.value.field == field, (change, info.value.field)
    campaigns.create_campaign(base, None)
    with pytest.raises(ValidationFailed) as clash:
        campaigns.create_campaign(base, None)  # the same SKU on two presales at once
    assert clash.value.field == "quotas"


def test_admin_permissions_and_disabled_404(app, enabled):
    buyer_web = new_client(app)
    sign_in(buyer_web, make_user())
    assert buyer_web.get("/admin/presale/").status_code == 403
    assert new_client(app).get("/admin/presale/").status_code == 302
    set_enabled(False)
    assert staff_client(app).get("/admin/presale/").status_code == 404


def test_staff_api_crud(app, enabled):
    product = make_product(price=10000, stock=0)
    web = new_client(app)
    staff = api_token(make_staff())
    now = utcnow()
    body = {"product_id": product.id, "mode": "full", "starts_at": now.isoformat() + "Z",
            "ends_at": (now + timedelta(days=3)).isoformat() + "Z", "promise_kind": "date",
            "ship_by_date": "2026-12-05", "quotas": {str(product.skus[0].id): 4}}
    assert web.post("/api/v1/presale/campaigns", json=body, headers=api_token(make_user())).status_code == 403
    assert web.post("/api/v1/presale/campaigns", json=body).status_code == 401
    made = web.post("/api/v1/presale/campaigns", json=body, headers=staff)
    assert made.status_code == 201, made.get_json()
    campaign_id = made.get_json()["id"]
    bad = web.post("/api/v1/presale/campaigns", json=dict(body, promise_kind="date", ship_by_date=None),
                   headers=staff)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "ship_by_date"
    patched = web.patch(f"/api/v1/presale/campaigns/{campaign_id}", json={"price": 8800}, headers=staff)
    assert patched.status_code == 200 and patched.get_json()["price"] == 8800
    quota = web.put(f"/api/v1/presale/campaigns/{campaign_id}/quotas/{product.skus[0].id}", json={"quota": 9},
                    headers=staff)
    assert quota.get_json()["quotas"][str(product.skus[0].id)] == 9
    listing = web.get("/api/v1/presale/campaigns", headers=staff).get_json()
    assert listing[0]["quota"] == 9 and listing[0]["sold"] == 0
    assert web.patch("/api/v1/presale/campaigns/999999", json={"price": 1}, headers=staff).status_code == 404


def test_openapi_documents_the_presale_endpoints(app, enabled):
    spec = new_client(app).get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/presale/campaigns", "/api/v1/presale/products/{slug}",
                 "/api/v1/presale/orders/{number}", "/api/v1/presale/orders/{number}/balance"):
        assert path in spec["paths"], path


def test_notifications_state_the_promise(app, enabled):
    _c, product = full_campaign(days=15)
    result = checkout(make_user(), (product.skus[0].id, 1))
    pay(result.payment.reference)
    fresh()
    message = db.session.execute(db.select(InboxMessage).where(InboxMessage.kind == "order_paid")).scalar_one()
    assert "Presale: Ships within 15 days of payment" in message.body


def test_timeline_wording_for_presale_events(app, enabled):
    _c, product = deposit_campaign()
    buyer = make_user()
    result = checkout(buyer, (product.skus[0].id, 1))
    pay(result.payment.reference)
    web = new_client(app)
    sign_in(web, buyer)
    page = web.get(f"/orders/{result.orders[0].number}").get_data(as_text=True)
    assert "Deposit received" in page


def test_demo_data_adds_one_presale_of_each_mode(app):
    from plugins.presale.hooks import demo_data

    for slug in ("lightweight-down-jacket", "cashmere-blend-turtleneck"):
        product = make_product(price=59900, stock=10)
        product.slug = slug
    db.session.commit()
    demo_data(utcnow())
    db.session.commit()
    modes = sorted(c.mode for c in db.session.execute(db.select(Campaign)).scalars())
    assert modes == ["deposit", "full"]
    assert db.session.execute(db.select(db.func.count(Order.id))).scalar() == 0

"""Quota is never oversold: N + 20 buyers at once on a quota of N (real threads, real HTTP checkouts)."""
from __future__ import annotations

import threading
import uuid

from plugins.presale.models import BuyerCount, Quota, Reservation
from storefront.accounts.models import User
from storefront.cart.models import Cart, CartLine
from storefront.catalog.models import Sku
from storefront.extensions import db
from storefront.orders.models import Order
from tests.checkout.helpers import checkout_form
from tests.factories import sign_in

from .conftest import checkout, deposit_campaign, fresh, full_campaign, new_client

QUOTA = 15
BUYERS = QUOTA + 20


def _racers(sku_id: int, quantity: int = 1) -> list[User]:
    users = [User(email=f"presale{i}@example.com", name=f"Racer {i}", password_hash="!", phone="13800000000")
             for i in range(BUYERS)]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        db.session.add(Cart(user_id=user.id, data={}, lines=[CartLine(sku_id=sku_id, quantity=quantity)]))
    db.session.commit()
    return users


def _race(app, users) -> list[tuple[int, str]]:
    clients = []
    for user in users:
        client = new_client(app)
        sign_in(client, user)
        clients.append(client)
    barrier = threading.Barrier(len(users), timeout=120)
    outcomes: list[tuple[int, str]] = [(-1, "")] * len(users)

    def buy(index: int) -> None:
        form = checkout_form(idempotency_key=uuid.uuid4().hex)
        barrier.wait()
        try:
            response = clients[index].post("/checkout/", data=form)
            outcomes[index] = (response.status_code, response.get_data(as_text=True))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertions
            outcomes[index] = (0, repr(exc))

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(users))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_quota_of_n_with_n_plus_20_concurrent_buyers(app, enabled):
    _c, product = full_campaign(quota=QUOTA, stock=3)
    sku_id = product.skus[0].id
    outcomes = _race(app, _racers(sku_id))
    placed = [s for s, _ in outcomes if s == 302]
    assert len(placed) == QUOTA, sorted({s for s, _ in outcomes})
    for status, body in outcomes:
        if status != 302:
            assert status in (409, 422), (status, body[:300])
            assert "sold out" in body.lower(), body[:300]
    fresh()
    assert db.session.execute(db.select(Quota.sold)).scalar() == QUOTA
    assert db.session.scalar(db.select(db.func.count()).select_from(Order)) == QUOTA
    assert db.session.scalar(db.select(db.func.count()).select_from(Reservation)) == QUOTA
    assert db.session.get(Sku, sku_id).stock == 3  # spot stock untouched


def test_per_buyer_limit_holds_under_double_submission(app, enabled):
    _c, product = deposit_campaign(quota=50, per_buyer_limit=1)
    user = User(email="twice@example.com", name="Twice", password_hash="!", phone="13800000000")
    db.session.add(user)
    db.session.flush()
    db.session.add(Cart(user_id=user.id, data={}, lines=[CartLine(sku_id=product.skus[0].id, quantity=1)]))
    db.session.commit()
    clients = []
    for _ in range(6):
        client = new_client(app)
        sign_in(client, user)
        clients.append(client)
    barrier = threading.Barrier(6, timeout=120)
    statuses = []

    def buy(client):
        form = checkout_form(idempotency_key=uuid.uuid4().hex)
        barrier.wait()
        statuses.append(client.post("/checkout/", data=form).status_code)

    threads = [threading.Thread(target=buy, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(302) == 1 and all(s in (302, 409, 422) for s in statuses)
    fresh()
    assert db.session.execute(db.select(BuyerCount.bought)).scalar() == 1
    assert db.session.execute(db.select(Quota.sold)).scalar() == 1


def test_quotas_taken_in_opposite_cart_orders_do_not_deadlock(app, enabled):
    """Two buyers check out two presale SKUs of one campaign, listed {A, B} and {B, A}: the
    quota rows are taken in one order, so the second checkout waits instead of deadlocking."""
    from tests.checkout.helpers import opposite_checkouts
    from tests.factories import make_product
    from tests.races import run_each_holding_its_first

    product = make_product(price=10000, stock=0, skus=2)
    a, b = (sku.id for sku in product.skus)
    full_campaign(product, quotas={a: 5, b: 5})
    results = run_each_holding_its_first(app, "UPDATE presale_quotas SET sold", opposite_checkouts(a, b))
    assert not [r for r in results if isinstance(r, Exception)], results
    fresh()
    assert sorted(db.session.execute(db.select(Quota.sold)).scalars()) == [2, 2]


def test_a_double_clicked_presale_creation_makes_one_campaign(app, enabled):
    """Staff submit the same new presale twice at once: a SKU is on one presale at a time, so
    the second is refused (on PostgreSQL both found no overlap and both were created)."""
    from datetime import date, timedelta

    from plugins.presale import campaigns
    from plugins.presale.models import Campaign
    from storefront.clock import utcnow
    from tests.factories import make_product
    from tests.races import run_each_holding_its_first

    product = make_product(price=10000, stock=0)
    now = utcnow()
    data = {"product_id": product.id, "mode": "full", "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=7), "promise_kind": "date",
            "ship_by_date": date.today() + timedelta(days=30), "quotas": {product.skus[0].id: 10}}

    def create():
        return campaigns.create_campaign(dict(data), None).id

    results = run_each_holding_its_first(app, "INSERT INTO presale_campaigns", [create, create])
    refused = [r for r in results if not isinstance(r, int)]
    assert len(refused) == 1 and getattr(refused[0], "field", None) == "quotas", results
    assert db.session.query(Campaign).count() == 1


def test_a_closed_order_gives_its_quota_back_once_however_many_workers_release_it(app, enabled, buyer):
    """The release reads the reservations before its write transaction (most closed orders
    hold none, and then take no lock); workers that all read them still give back once."""
    from sqlalchemy import update

    from plugins.presale.services import release_order
    from tests.races import run_threads

    _c, product = full_campaign(quota=10, limit=3)
    result = checkout(buyer, (product.skus[0].id, 2))
    order_id = result.orders[0].id
    # Closed without its order_event, so that only the racing workers release it.
    db.session.execute(update(Order).where(Order.id == order_id).values(status="closed"))
    db.session.commit()
    released = run_threads(app, 4, lambda _i: release_order(order_id))
    assert sorted(released) == [0, 0, 0, 2], released
    fresh()
    assert db.session.execute(db.select(Quota.sold)).scalar() == 0
    assert db.session.execute(db.select(BuyerCount.bought)).scalar() == 0
    assert db.session.execute(db.select(Reservation.released_at)).scalar() is not None
    assert release_order(order_id) == 0  # a later delivery of the event changes nothing

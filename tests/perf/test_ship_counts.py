"""SQL statements and transactions of shipping orders from a tracking-number upload (issue 9).

The days after a flash sale, staff ship thousands of paid orders by uploading
the carriers' numbers (``storefront/orders/csv_io.py``). Each order ships in
its own write transaction, then order tracking opens its parcel in
``order_event``. On SQLite every write transaction takes the database's one
write lock, which buyers checking out wait for. Pinned as counts, never as
timings (``bench/inprocess.py --scenarios bulk_ship`` measures the time).
"""
from __future__ import annotations

import re

from sqlalchemy import select

from plugins.order_tracking.models import Parcel
from storefront.extensions import db
from storefront.orders.csv_io import import_tracking
from storefront.orders.models import Order
from storefront.settings import get_setting
from tests.checkout.helpers import api_token, make_address
from tests.factories import make_user

from .conftest import ORDER_ROW, count_queries, give_cart, record_transactions, writing_transactions
from .test_write_counts import _place

ORDERS = 3


def _paid_orders(app, shop) -> list[str]:
    numbers = []
    for i in range(ORDERS):
        buyer = make_user()
        make_address(buyer)
        db.session.commit()
        give_cart(buyer, [shop["plain"][i].skus[0]])
        headers = api_token(buyer)
        client, _body, placed, _seen = _place(app, buyer, headers)
        assert placed.status_code == 201, placed.get_json()
        payment = placed.get_json()["payment"]
        paid = client.post(f"/api/v1/payments/{payment['reference']}/pay-test", headers=headers)
        assert paid.status_code == 200, paid.get_json()
        numbers.append(payment["orders"][0]["number"])
    return numbers


def test_each_shipped_order_takes_the_write_lock_for_its_own_writes_only(app, shop):
    numbers = _paid_orders(app, shop)
    carrier = get_setting("carriers")[0]
    upload = "order_number,carrier,tracking_number\n" + "".join(
        f"{n},{carrier},SF{1000000000 + i}\n" for i, n in enumerate(numbers))
    owner = make_user(role="owner")
    db.session.commit()
    import_tracking(upload.encode(), owner)  # the first upload also seeds the carrier registry
    more = _paid_orders(app, shop)
    upload = "order_number,carrier,tracking_number\n" + "".join(
        f"{n},{carrier},SF{2000000000 + i}\n" for i, n in enumerate(more))
    with record_transactions() as (seen, commits_at):
        rows = import_tracking(upload.encode(), owner)
    print(len(seen), *seen, sep="\n")
    assert [row.ok for row in rows] == [True] * ORDERS, [row.error for row in rows]
    statuses = db.session.execute(select(Order.status).where(Order.number.in_(more))).scalars().all()
    assert statuses == ["shipped"] * ORDERS
    parcels = db.session.execute(select(Parcel.tracking_number).join(Order, Order.id == Parcel.order_id)
                                 .where(Order.number.in_(more))).scalars().all()
    assert sorted(parcels) == [f"SF{2000000000 + i}" for i in range(ORDERS)]
    writing, idle_locks = writing_transactions(seen, commits_at)
    assert len(writing) == 2 * ORDERS  # the shipment, then its parcel
    assert idle_locks == []  # no write lock taken to find there is nothing to write
    # Each order is read for the upload's check, refreshed inside its shipment and read once
    # more for the handlers after the commit; the parcel's own transaction reads none.
    assert len(seen.matching(ORDER_ROW)) <= 1 + 2 * ORDERS
    assert not [t for t in writing if any(s.startswith("INSERT INTO order_tracking_parcels") for s in t)
                and any(re.match(ORDER_ROW, s) for s in t)]


def test_a_shipment_holds_the_write_lock_for_its_writes_not_its_message(app, shop):
    numbers = _paid_orders(app, shop)
    carrier = get_setting("carriers")[0]
    owner = make_user(role="owner")
    db.session.commit()
    import_tracking(f"order_number,carrier,tracking_number\n{numbers[0]},{carrier},SF3000000000\n".encode(), owner)
    upload = "order_number,carrier,tracking_number\n" + "".join(
        f"{n},{carrier},SF{3000000001 + i}\n" for i, n in enumerate(numbers[1:]))
    with count_queries() as seen:
        rows = import_tracking(upload.encode(), owner)
    assert [row.ok for row in rows] == [True] * (ORDERS - 1), [row.error for row in rows]
    locked = seen.inside_writes()
    assert len(locked.matching(r"^UPDATE orders SET status")) == ORDERS - 1
    assert len(locked.matching(r"^INSERT INTO outbox")) == ORDERS - 1
    assert len(locked.matching(r"^INSERT INTO audit_log")) == ORDERS - 1
    # The "shipped" message is rendered from the order as read before the lock; the staff
    # member's id and e-mail for the audit log are taken before it too.
    assert not locked.matching(ORDER_ROW), locked
    assert not locked.matching(r"^SELECT (users|order_lines|order_adjustments|presale_orders)\."), locked

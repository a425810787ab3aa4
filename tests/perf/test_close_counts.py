"""SQL statements and transactions of closing an unpaid order (issue 9).

After a flash sale the deadline sweep closes every order that was not paid,
and each plugin gives back what the order held in its ``order_event``
handler. On SQLite every write transaction takes the database's one write
lock, which the buyers still checking out wait for, so a handler with
nothing to give back must not take it; and a handler that needs only the
order's id must not reload the order another handler's commit expired.
Pinned as counts, never as timings (``bench/inprocess.py --scenarios
unpaid_sweep`` measures the time).
"""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.models import Order
from storefront.orders.sweeps import close_unpaid
from tests.checkout.helpers import api_token

from .conftest import ORDER_ROW, give_cart, no_write_transaction, record_transactions, writing_transactions
from .test_write_counts import _place


def _unpaid_past_deadline(app, shop, skus) -> int:
    buyer = shop["buyer"]
    give_cart(buyer, skus)
    _client, _body, response, _seen = _place(app, buyer, api_token(buyer))
    assert response.status_code == 201, response.get_json()
    number = response.get_json()["payment"]["orders"][0]["number"]
    order_id = db.session.execute(select(Order.id).where(Order.number == number)).scalar_one()
    db.session.execute(update(Order).where(Order.id == order_id)
                       .values(pay_deadline=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    return order_id


def test_a_close_with_nothing_held_writes_only_the_close(app, shop):
    """A courier order with no coupon, credit, presale or pickup: one write transaction."""
    from plugins.coupons.services import forget_wallet
    from plugins.coupons.models import WalletCoupon

    # The buyer's wallet coupon would apply itself at checkout; spend it elsewhere first.
    db.session.execute(update(WalletCoupon).where(WalletCoupon.user_id == shop["buyer"].id)
                       .values(used_at=utcnow()))
    db.session.commit()
    forget_wallet()
    order_id = _unpaid_past_deadline(app, shop, [shop["plain"][0].skus[0]])
    with record_transactions() as (seen, commits_at):
        assert close_unpaid(utcnow()) == 1
    print(len(seen), *seen, sep="\n")
    assert db.session.get(Order, order_id).status == "closed"
    writing, idle_locks = writing_transactions(seen, commits_at)
    assert len(writing) == 1  # the close; the plugins found nothing to give back
    assert idle_locks == []
    # Claimed inside the write transaction (not read again by close_order), and once for the handlers.
    assert len(seen.inside_writes().matching(ORDER_ROW)) == 1
    assert len(seen.matching(ORDER_ROW)) == 2


def test_a_presale_close_reloads_the_order_once_for_its_handlers(app, shop):
    """Coupon and presale quota go back, each in its own write transaction; the order is
    read again once after the close, not after each handler's commit."""
    order_id = _unpaid_past_deadline(app, shop, [shop["presale"].skus[0]])
    with record_transactions() as (seen, commits_at):
        assert close_unpaid(utcnow()) == 1
    print(len(seen), *seen, sep="\n")
    assert db.session.get(Order, order_id).status == "closed"
    writing, idle_locks = writing_transactions(seen, commits_at)
    assert len(writing) == 3  # the close, the coupon use back, the quota back
    assert idle_locks == []
    close_ends = seen.index(next(s for s in seen if s.startswith("UPDATE orders SET status")))
    after_close = seen[close_ends:]
    assert len([s for s in after_close if re.match(ORDER_ROW, s)]) == 1


def test_credit_and_pickup_handlers_read_without_the_write_lock(app, shop):
    """Called for a closed order with no credit spent and no pickup: no transaction commits."""
    from plugins.aftersales.credit import return_for_closed_order
    from plugins.store_pickup.pickups import release_for_closed_order

    order_id = _unpaid_past_deadline(app, shop, [shop["plain"][1].skus[0]])
    assert close_unpaid(utcnow()) == 1
    db.session.commit()
    with no_write_transaction():
        assert return_for_closed_order(order_id) is None
        assert release_for_closed_order(order_id) is False
    assert db.session.execute(select(Order.status).where(Order.id == order_id)).scalar() == "closed"

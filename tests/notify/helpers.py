"""Orders and outbox messages built directly as rows: notification tests need an order, not a
checkout, and queued messages, not the orders that queued them."""
from __future__ import annotations

import itertools
import time
from datetime import timedelta

from storefront.clock import utcnow
from storefront.extensions import db
from storefront.notify.models import OutboxMessage
from storefront.orders.models import Order, OrderAdjustment, OrderLine
from storefront.orders.status import OrderStatus

_seq = itertools.count(1)


def make_order(user=None, *, status=OrderStatus.PAID, total=None, contact_email="", currency="CNY",
               placed_at=None, ship_by=None, **values) -> Order:
    n = next(_seq)
    now = utcnow()
    order = Order(
        number=f"T{n:08d}", user_id=user.id if user else None, status=status, currency=currency,
        subtotal=19800, discount_total=1000, shipping_total=1000, total=19800,
        delivery_code="courier", delivery_label="Courier", ship_name="Li Lei", ship_phone="13800000000",
        ship_address="1 Nanjing Road, Shanghai", contact_email=contact_email,
        placed_at=placed_at or now, pay_deadline=now + timedelta(minutes=30),
        paid_at=now if status != OrderStatus.PENDING_PAYMENT else None,
        ship_by=ship_by if ship_by is not None else (now + timedelta(hours=48)),
        **values,
    )
    order.lines.append(OrderLine(product_name="Silk scarf", sku_code=f"SC-{n}", sku_label="Red / M",
                                 unit_price=9900, quantity=2, line_subtotal=19800, discount=1000,
                                 paid_amount=18800))
    order.adjustments.append(OrderAdjustment(position=0, kind="discount", code="SAVE10", label="Coupon SAVE10",
                                             source="coupons", amount=-1000))
    if total is not None:
        order.total = total
    db.session.add(order)
    db.session.commit()
    return order


def add_outbox_messages(n: int = 1, **values) -> list[int]:
    """``n`` committed outbox rows ("order_paid" to b0@example.com, b1@...), oldest first; their ids."""
    rows = [OutboxMessage(kind="order_paid", to_address=f"b{i}@example.com", subject=f"s{i}", body="b",
                          **values) for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def eventually(check, timeout: float = 30) -> bool:
    """Whether ``check()`` holds within ``timeout`` seconds (asked every 50 ms): for work
    another thread or process does, where only a real stall should trip the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()

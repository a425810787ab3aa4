"""Order fixtures for the orders tests, independent of checkout.

``make_order`` inserts an order with lines (and a payment when paid) straight
through the models, in any status, and takes the stock the way checkout does
(conditional UPDATE), so closing it must give exactly that stock back.
"""
from __future__ import annotations

import hashlib
import itertools
import secrets
from datetime import timedelta

from sqlalchemy import update

from storefront.accounts.models import ApiToken
from storefront.catalog.models import Sku
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.models import Order, OrderAdjustment, OrderLine
from storefront.orders.status import OrderStatus
from storefront.payments.models import OrderPayment, Payment, PaymentStatus

from ..factories import make_product, sign_in

_seq = itertools.count(1)


def make_order(user=None, status: OrderStatus | str = OrderStatus.PAID, items=None, *,
               quantity: int = 1, shipping: int = 1000, discount: int = 0, ship_name: str = "Li Lei",
               ship_phone: str = "13900000000", ship_address: str = "1 Nanjing Rd, Shanghai",
               buyer_note: str = "", placed_at=None, pay_deadline=None, ship_by=None,
               auto_confirm_at=None, number: str | None = None) -> Order:
    """An order of ``items`` [(sku, qty)] (default: one new product) in ``status``."""
    status = OrderStatus(status)
    now = utcnow()
    if items is None:
        product = make_product(price=5000, stock=10)
        items = [(product.skus[0], quantity)]
    n = next(_seq)
    lines = []
    subtotal = 0
    for sku, qty in items:
        taken = db.session.execute(
            update(Sku).where(Sku.id == sku.id, Sku.stock >= qty).values(stock=Sku.stock - qty)
        ).rowcount
        assert taken == 1, "factory: not enough stock"
        line_subtotal = sku.price * qty
        subtotal += line_subtotal
        lines.append(OrderLine(sku_id=sku.id, product_id=sku.product_id, product_name=sku.product.name,
                               sku_code=sku.code, sku_label=sku.label, unit_price=sku.price,
                               quantity=qty, line_subtotal=line_subtotal, discount=0,
                               paid_amount=line_subtotal))
    if discount:
        lines[0].discount = discount
        lines[0].paid_amount -= discount
    total = subtotal - discount + shipping
    order = Order(
        number=number or f"T{now:%y%m%d}{n:06d}", user_id=user.id if user else None, status=status,
        currency="CNY", subtotal=subtotal, discount_total=discount, shipping_total=shipping, total=total,
        delivery_code="courier", delivery_label="Courier", ship_name=ship_name, ship_phone=ship_phone,
        ship_address=ship_address, contact_email=user.email if user else "guest@example.com",
        buyer_note=buyer_note, placed_at=placed_at or now,
        pay_deadline=pay_deadline or now + timedelta(minutes=30), lines=lines,
    )
    if discount:
        order.adjustments.append(OrderAdjustment(position=0, kind="discount", code="TEST", label="Test discount",
                                                 source="core", amount=-discount))
    if status != OrderStatus.PENDING_PAYMENT:
        order.paid_at = now
        order.ship_by = ship_by or now + timedelta(hours=48)
        order.payment = Payment(reference=f"P{n:08d}", idempotency_key=f"test-{n}-{secrets.token_hex(4)}",
                                user_id=user.id if user else None, provider="test", status=PaymentStatus.PAID,
                                amount=total, currency="CNY", paid_at=now)
        order.paid_total = total
        order.payment_links.append(OrderPayment(payment=order.payment, amount=total))
    if status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        order.carrier, order.tracking_number = "SF Express", f"SF{n:010d}"
        order.shipped_at = now
        order.auto_confirm_at = auto_confirm_at or now + timedelta(days=14)
    if status == OrderStatus.COMPLETED:
        order.completed_at = now
    if status == OrderStatus.CLOSED:
        order.closed_at = now
        order.close_reason = "buyer_cancelled"
    db.session.add(order)
    db.session.commit()
    return order


def session_login(client, user) -> None:
    """Sign in without the login page (Flask-Login's session keys)."""
    forget_cached_user()
    sign_in(client, user)


def forget_cached_user() -> None:
    """Test-client requests reuse the fixture's app context, and with it `g`,
    where Flask-Login caches the previous request's user: drop it when a test
    switches users."""
    from flask import g, has_app_context

    if has_app_context():
        g.pop("_login_user", None)


def make_token(user) -> dict:
    """A bearer token row for ``user``; returns the request headers to send."""
    token = secrets.token_urlsafe(24)
    db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest(),
                            expires_at=utcnow() + timedelta(days=1)))
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def stock_of(sku_id: int) -> int:
    db.session.rollback()  # a fresh snapshot: SQLite WAL readers keep their old one
    return db.session.get(Sku, sku_id).stock


def reload(order_or_id) -> Order:
    """The order as committed now (ends the test's own read snapshot first)."""
    order_id = getattr(order_or_id, "id", order_or_id)
    db.session.rollback()
    return db.session.get(Order, order_id)

"""queue_order_notification: rendered in the buyer's locale, written in the caller's transaction."""
from __future__ import annotations

import pytest

from storefront.extensions import db
from storefront.notify.models import InboxMessage, OutboxMessage
from storefront.notify.services import queue_order_notification
from storefront.orders.status import CancelReason, OrderStatus
from tests.factories import make_user
from tests.notify.helpers import make_order


def _rows(model):
    return db.session.execute(db.select(model).order_by(model.id)).scalars().all()


def test_paid_notification_adds_outbox_and_inbox_rows(app):
    buyer = make_user(email="li@example.com")
    order = make_order(buyer)
    queue_order_notification(order, "order_paid")
    db.session.commit()
    [mail] = _rows(OutboxMessage)
    [inbox] = _rows(InboxMessage)
    assert mail.to_address == "li@example.com" and mail.channel == "email"
    assert mail.status == "pending" and mail.attempts == 0
    assert mail.kind == "order_paid" and mail.order_id == order.id and mail.user_id == buyer.id
    assert order.number in mail.subject
    for text in ("Silk scarf", "Red / M", "× 2", "CN¥198.00", "Coupon SAVE10", "-CN¥10.00", "Total", "ship by"):
        assert text in mail.body, text
    assert inbox.user_id == buyer.id and inbox.subject == mail.subject and inbox.body == mail.body
    assert inbox.read_at is None


def test_nothing_is_committed_by_the_service(app):
    order = make_order(make_user())
    queue_order_notification(order, "order_paid")
    db.session.rollback()
    assert _rows(OutboxMessage) == [] and _rows(InboxMessage) == []


def test_shipped_mentions_carrier_and_tracking(app):
    order = make_order(make_user(), status=OrderStatus.SHIPPED, carrier="SF Express", tracking_number="SF1234567")
    queue_order_notification(order, "order_shipped")
    [mail] = _rows(OutboxMessage)
    assert "SF Express" in mail.body and "SF1234567" in mail.body
    assert "has shipped" in mail.subject


def test_closed_gives_the_reason(app):
    order = make_order(make_user(), status=OrderStatus.CLOSED, close_reason=CancelReason.OUT_OF_STOCK)
    queue_order_notification(order, "order_closed")
    [mail] = _rows(OutboxMessage)
    assert "Reason: Out of stock" in mail.body


def test_payment_reminder_gives_the_deadline(app):
    order = make_order(make_user(), status=OrderStatus.PENDING_PAYMENT)
    queue_order_notification(order, "order_payment_reminder")
    [mail] = _rows(OutboxMessage)
    assert "Please pay before" in mail.body


def test_guest_order_mails_the_contact_address_without_inbox(app):
    order = make_order(None, contact_email="guest@example.com")
    queue_order_notification(order, "order_paid")
    [mail] = _rows(OutboxMessage)
    assert mail.to_address == "guest@example.com" and mail.user_id is None
    assert _rows(InboxMessage) == []


def test_order_without_buyer_or_contact_is_a_no_op(app):
    queue_order_notification(make_order(None), "order_paid")
    assert _rows(OutboxMessage) == [] and _rows(InboxMessage) == []


def test_unknown_kind_is_refused(app):
    with pytest.raises(ValueError):
        queue_order_notification(make_order(make_user()), "order_exploded")


def test_rendered_in_the_buyers_locale(app):
    buyer = make_user()
    buyer.locale = "zh_Hans"
    english = make_user()
    db.session.commit()
    queue_order_notification(make_order(buyer), "order_paid")
    queue_order_notification(make_order(english), "order_paid")
    zh, en = _rows(OutboxMessage)
    assert "¥198.00" in zh.body and "CN¥" not in zh.body
    assert "合计" in zh.body  # "Total"
    assert zh.data["locale"] == "zh_Hans"
    assert "CN¥198.00" in en.body and "Total" in en.body


def test_vietnamese_buyer(app):
    buyer = make_user()
    buyer.locale = "vi"
    db.session.commit()
    queue_order_notification(make_order(buyer), "order_shipped")
    [mail] = _rows(OutboxMessage)
    assert "Tổng cộng" in mail.body  # "Total"

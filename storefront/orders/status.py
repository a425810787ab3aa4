"""Order statuses and their transition table (DOMAIN.md §1), in one place."""
from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l


class OrderStatus(enum.StrEnum):
    #: Placed, stock reserved, waiting for the buyer to pay; closes by itself.
    PENDING_PAYMENT = "pending_payment"
    #: Paid, awaiting shipment before its ship-by deadline.
    PAID = "paid"
    #: Handed to a carrier; completes by itself at the auto-confirm deadline.
    SHIPPED = "shipped"
    #: Receipt confirmed by the buyer or automatically: the sale is final.
    COMPLETED = "completed"
    #: Ended without a sale: unpaid timeout, cancellation or full refund.
    CLOSED = "closed"


STATUS_LABELS = {
    OrderStatus.PENDING_PAYMENT: _l("Awaiting payment"),
    OrderStatus.PAID: _l("Paid, awaiting shipment"),
    OrderStatus.SHIPPED: _l("Shipped"),
    OrderStatus.COMPLETED: _l("Completed"),
    OrderStatus.CLOSED: _l("Closed"),
}

#: from-status -> the statuses it may move to.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CLOSED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CLOSED}),
    # shipped -> closed only when after-sales refunds the whole order.
    OrderStatus.SHIPPED: frozenset({OrderStatus.COMPLETED, OrderStatus.CLOSED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.CLOSED: frozenset(),
}

OPEN_STATUSES = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.SHIPPED})


class CancelReason(enum.StrEnum):
    """Why an order was closed. Seller reasons are the only ones DOMAIN.md §2 allows."""

    BUYER_CANCELLED = "buyer_cancelled"
    PAYMENT_TIMEOUT = "payment_timeout"
    # seller reasons (001 §4)
    NOT_ACCEPTED_IN_TIME = "not_accepted_in_time"
    OUT_OF_STOCK = "out_of_stock"
    LISTING_ERROR = "listing_error"
    BUYER_UNREACHABLE = "buyer_unreachable"
    SHIPPING_ERROR = "shipping_error"
    DUPLICATE_ORDER = "duplicate_order"  # staff closing an obviously duplicate unpaid order (003)
    REFUNDED = "refunded"  # after-sales refunded everything
    PLUGIN = "plugin"  # a plugin's own rule, e.g. presale balance unpaid


SELLER_CANCEL_REASONS = (
    CancelReason.NOT_ACCEPTED_IN_TIME,
    CancelReason.OUT_OF_STOCK,
    CancelReason.LISTING_ERROR,
    CancelReason.BUYER_UNREACHABLE,
    CancelReason.SHIPPING_ERROR,
    CancelReason.DUPLICATE_ORDER,
)

CANCEL_REASON_LABELS = {
    CancelReason.BUYER_CANCELLED: _l("Cancelled by the buyer"),
    CancelReason.PAYMENT_TIMEOUT: _l("Not paid in time"),
    CancelReason.NOT_ACCEPTED_IN_TIME: _l("Order not accepted in time"),
    CancelReason.OUT_OF_STOCK: _l("Out of stock"),
    CancelReason.LISTING_ERROR: _l("Listing error (name, picture, spec or price)"),
    CancelReason.BUYER_UNREACHABLE: _l("Buyer unreachable for more than an hour"),
    CancelReason.SHIPPING_ERROR: _l("Shipping error"),
    CancelReason.DUPLICATE_ORDER: _l("Duplicate unpaid order"),
    CancelReason.REFUNDED: _l("Fully refunded"),
    CancelReason.PLUGIN: _l("Closed by a shop rule"),
}


class NoteFlag(enum.StrEnum):
    """Staff note flags (003): red = order details changed, blue = after-sales handled."""

    NONE = "none"
    RED = "red"
    BLUE = "blue"
    GREEN = "green"
    YELLOW = "yellow"
    PURPLE = "purple"


NOTE_FLAG_LABELS = {
    NoteFlag.NONE: _l("No flag"),
    NoteFlag.RED: _l("Red: order details changed"),
    NoteFlag.BLUE: _l("Blue: after-sales handled"),
    NoteFlag.GREEN: _l("Green"),
    NoteFlag.YELLOW: _l("Yellow"),
    NoteFlag.PURPLE: _l("Purple"),
}

"""Checkout: preview (page, API) and placing orders, the same functions for both.

Placing runs in ONE write transaction: the payment row (whose unique
idempotency key makes a duplicate submission return the first checkout),
stock taken by conditional UPDATE per line, the orders with their price
snapshot, the ``order_placing`` hook, and the cart emptied. Any failure rolls
all of it back.

Shipping of a split checkout is charged once, on the order of the group
named by the chosen delivery option's ``data["shipping_group"]`` (a plugin's
way to say otherwise), else on the first group's order.
"""
from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..accounts.models import Address
from ..cart.models import Cart, CartLine
from ..cart.services import find_cart
from ..clock import utcnow
from ..database import get_by_pk, insert_loaded, keep_after_commit, write_transaction
from ..errors import CheckoutBlocked, Conflict, NotFound, OutOfStock, ServiceError, ValidationFailed
from ..extensions import db
from ..i18n import gettext as _
from ..models_base import MAX_ROW_ID
from ..orders.models import Order, OrderAdjustment, OrderLine
from ..orders.status import OrderStatus
from ..orders.transitions import Actor, record_event
from ..payments.models import OrderPayment, Payment, PaymentStatus
from ..plugins.host import flatten, get_host
from ..plugins.types import CheckoutGroup, Problem
from ..settings import get_setting
from .pricing import Breakdown, delivery_options_for, price_cart, split_breakdown

ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "line1", "postcode")
ADDRESS_LIMITS = {"name": 120, "phone": 32, "province": 80, "city": 80, "district": 80, "line1": 255,
                  "postcode": 16}
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,30}$")
# Plugin choices posted with the checkout (see ``clean_extra``).
_EXTRA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
EXTRA_MAX_FIELDS = 40
EXTRA_MAX_LENGTH = 500


@dataclass
class CheckoutDraft:
    """Everything a checkout is about; passed to ``validate_checkout`` and ``split_checkout``."""

    cart: Cart | None
    buyer: Any
    breakdown: Breakdown
    delivery_options: list
    delivery: Any  # the chosen DeliveryOption or None
    address: dict | None
    address_id: int | None = None
    note: str = ""
    #: Plugin choices posted with the checkout, e.g. ``{"store_pickup_slot": "3@2026-11-11T10:00"}``;
    #: keys start with the plugin's name (see ``clean_extra``). Plugins validate their own.
    extra: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    groups: list[CheckoutGroup] = field(default_factory=list)
    group_breakdowns: list[Breakdown] = field(default_factory=list)

    @property
    def lines(self):
        return self.breakdown.lines

    @property
    def blocked(self) -> bool:
        return bool(self.problems)


@dataclass
class CheckoutResult:
    payment: Payment
    orders: list[Order]
    created: bool  # False when an earlier submission with the same key is returned


def clean_address(values: dict | None) -> dict:
    """Validate a typed address; errors name the field."""
    values = values or {}
    cleaned = {}
    for key in ADDRESS_FIELDS:
        raw = values.get(key)
        value = raw.strip() if isinstance(raw, str) else ("" if raw is None else str(raw).strip())
        if len(value) > ADDRESS_LIMITS[key]:
            raise ValidationFailed(_("At most %(n)s characters.", n=ADDRESS_LIMITS[key]), field=key)
        cleaned[key] = value
    for key in ("name", "phone", "line1"):
        if not cleaned[key]:
            raise ValidationFailed(_("This field is required."), field=key)
    if not _PHONE.match(cleaned["phone"]):
        raise ValidationFailed(_("Enter a phone number."), field="phone")
    return cleaned


def clean_extra(values: dict | None) -> dict[str, str]:
    """Plugin choices posted with a checkout, kept as plain short strings.

    Keys must look like ``<plugin name>_<field>`` (lowercase, digits,
    underscores); anything else, non-string values and overlong text are
    dropped, so a plugin only ever sees bounded strings it then validates.
    """
    cleaned: dict[str, str] = {}
    for key, value in (values or {}).items():
        if len(cleaned) >= EXTRA_MAX_FIELDS:
            break
        if not isinstance(key, str) or not _EXTRA_KEY.match(key):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value) > EXTRA_MAX_LENGTH:
            continue
        cleaned[key] = value.strip()
    return cleaned


def address_from_row(row: Address) -> dict:
    return {key: getattr(row, key) or "" for key in ADDRESS_FIELDS}


def one_line(address: dict) -> str:
    parts = [address.get(k, "") for k in ("province", "city", "district", "line1", "postcode")]
    return ", ".join(p for p in parts if p)


def buyer_address(buyer, address_id) -> Address:
    try:
        address_id = int(address_id)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Choose one of your addresses."), field="address_id") from None
    if not 1 <= address_id <= MAX_ROW_ID:  # past the column's range the driver, not the look-up, would answer
        raise NotFound(_("Choose one of your addresses."), field="address_id")
    row = get_by_pk(Address, address_id)
    if row is None or row.user_id != buyer.id:  # another buyer's address does not exist for you
        raise NotFound(_("Choose one of your addresses."), field="address_id")
    return row


def default_groups(breakdown: Breakdown) -> list[CheckoutGroup]:
    """The core split: one order per offer ``group`` (usually just one)."""
    groups: dict[str, list] = {}
    promises: dict[str, str | None] = {}
    for line in breakdown.lines:
        key = line.group or "main"
        groups.setdefault(key, []).append(line.sku_id)
        promises.setdefault(key, line.ship_promise)
    return [CheckoutGroup(key=k, sku_ids=tuple(v), ship_promise=promises[k]) for k, v in groups.items()]


def _split(draft: CheckoutDraft) -> list[CheckoutGroup]:
    groups = get_host().hook.split_checkout(checkout=draft) or default_groups(draft.breakdown)
    seen: list[int] = [sku for g in groups for sku in g.sku_ids]
    wanted = sorted(line.sku_id for line in draft.breakdown.lines)
    if sorted(seen) != wanted or any(not g.sku_ids for g in groups):
        raise CheckoutBlocked(_("The order split of this checkout is inconsistent; please try again."),
                              code="split_invalid")
    return list(groups)


def _shipping_group(draft: CheckoutDraft) -> str | None:
    data = getattr(draft.delivery, "data", None) or {}
    wanted = data.get("shipping_group")
    keys = [g.key for g in draft.groups]
    return wanted if wanted in keys else (keys[0] if keys else None)


#: ``cart=`` default of the checkout functions: the buyer's stored cart.
BUYERS_CART: Any = object()


def prepare_checkout(buyer, *, delivery_code: str | None = None, address: dict | None = None,
                     address_id=None, note: str = "", strict: bool = False,
                     extra: dict | None = None, cart=BUYERS_CART) -> CheckoutDraft:
    """Price the buyer's cart and gather every problem that would block placing it.

    ``strict`` (submission) raises on a bad address; the page preview keeps
    going so the buyer sees the breakdown next to the errors. ``extra`` are
    plugin choices (see :func:`clean_extra`), handed to hooks as ``checkout.extra``.
    ``cart`` is another cart to check out instead: a buy-now's transient one
    (:mod:`storefront.checkout.buy_now`).
    """
    if cart is BUYERS_CART:
        cart = find_cart(buyer)
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationFailed(_("At most %(n)s characters.", n=500), field="note")
    resolved: dict | None = None
    if address_id not in (None, "", "new"):
        resolved = address_from_row(buyer_address(buyer, address_id))
        address_id = int(address_id)
    elif address and any(str(v or "").strip() for v in address.values()):
        # An all-empty typed address is "none given" (e.g. a pickup checkout hides the form).
        try:
            resolved = clean_address(address)
        except ValidationFailed:
            if strict:
                raise
        address_id = None
    else:
        address_id = None
    # Placing an order needs only the chosen option; a page lists them all.
    wanted = delivery_code if strict and delivery_code else None
    options = delivery_options_for(cart, resolved, buyer, wanted) if cart is not None and cart.lines else []
    breakdown = price_cart(cart, buyer, delivery_code=delivery_code, address=resolved, options=options)
    chosen = next((o for o in options if o.code == breakdown.delivery_code), None)
    draft = CheckoutDraft(cart=cart, buyer=buyer, breakdown=breakdown, delivery_options=options,
                          delivery=chosen, address=resolved, address_id=address_id, note=note,
                          extra=clean_extra(extra))
    problems: list[Problem] = []
    if not breakdown.lines:
        problems.append(Problem("cart_empty", _("Your cart is empty."), "core"))
    for line, message in breakdown.problems:
        problems.append(Problem("line_unavailable", _("%(name)s: %(problem)s", name=line.product_name,
                                                      problem=message), "core", field=f"sku_{line.sku_id}"))
    if breakdown.lines and chosen is None:
        problems.append(Problem("delivery_required", _("Choose a delivery option."), "core", "delivery_code"))
    if chosen is not None and chosen.needs_address and resolved is None:
        problems.append(Problem("address_required", _("Choose or enter a delivery address."), "core", "address"))
    if breakdown.lines:
        problems.extend(flatten(get_host().hook.validate_checkout(checkout=draft)))
        draft.groups = _split(draft)
        carrier = _shipping_group(draft)
        draft.group_breakdowns = [split_breakdown(breakdown, g.sku_ids, carries_shipping=g.key == carrier)
                                  for g in draft.groups]
    draft.problems = problems
    return draft


def clean_idempotency_key(key) -> str:
    if not isinstance(key, str) or not _KEY.match(key.strip()):
        raise ValidationFailed(_("This form expired; reload the checkout page and try again."),
                               field="idempotency_key")
    return key.strip()


def find_checkout(buyer, idempotency_key: str) -> CheckoutResult | None:
    payment = db.session.execute(_payment_by_key_query(), {"key": idempotency_key}).scalar_one_or_none()
    if payment is None:
        return None
    if payment.user_id != buyer.id:
        raise Conflict(_("This checkout key was already used."), code="idempotency_conflict")
    return CheckoutResult(payment=payment, orders=list(payment.orders), created=False)


@functools.cache
def _payment_by_key_query():
    # Built once: every buy-now and checkout whose key was seen asks (a retry, a refused coupon's second try).
    return select(Payment).where(Payment.idempotency_key == bindparam("key"))


def place_order(buyer, *, idempotency_key: str, delivery_code: str | None = None, address: dict | None = None,
                address_id=None, note: str = "", provider: str = "test",
                extra: dict | None = None, cart=BUYERS_CART) -> CheckoutResult:
    """Place the buyer's cart as one payment and one or more orders (see the module docstring).

    Prices are recomputed here; nothing the client sends about money or
    status is read. Raises CheckoutBlocked (with ``details["problems"]``),
    OutOfStock ("Sold out: <name>"), ValidationFailed or Conflict.
    """
    idempotency_key = clean_idempotency_key(idempotency_key)
    # A repeated key is looked up only when this submission cannot be placed
    # (its cart is usually empty by then) or when the payment INSERT below
    # hits the key's unique index: the first checkout needs no extra SELECT.
    try:
        draft = prepare_checkout(buyer, delivery_code=delivery_code, address=address, address_id=address_id,
                                 note=note, strict=True, extra=extra, cart=cart)
    except ServiceError:
        existing = find_checkout(buyer, idempotency_key)
        if existing is not None:
            return existing
        raise
    if draft.problems:
        existing = find_checkout(buyer, idempotency_key)
        if existing is not None:
            return existing
        raise CheckoutBlocked(
            "; ".join(p.message for p in draft.problems),
            details={"problems": [{"code": p.code, "message": p.message, "source": p.source, "field": p.field}
                                  for p in draft.problems]},
        )
    for attempt in range(3):
        try:
            return _write_checkout(draft, idempotency_key, provider)
        except IntegrityError:
            # The same key committed meanwhile (double click, two threads): answer with that checkout.
            db.session.rollback()
            existing = find_checkout(buyer, idempotency_key)
            if existing is not None:
                return existing
            if attempt == 2:  # a random order number collided three times: give up cleanly
                raise Conflict(_("Please submit your order again."), code="retry") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _order_number(now) -> str:
    return now.strftime("%Y%m%d") + "".join(secrets.choice("0123456789") for _ in range(8))


def _write_checkout(draft: CheckoutDraft, key: str, provider: str) -> CheckoutResult:
    buyer, breakdown = draft.buyer, draft.breakdown
    actor = Actor.of(buyer)
    host = get_host()
    # The buyer and the cart as priced: the conditional DELETEs below check
    # the cart did not change, so reloading them would only cost round trips.
    cart = draft.cart
    keep = [buyer, cart, *(cart.lines if cart is not None else ())]
    with write_transaction(keep=keep):
        now = utcnow()
        # First write: the payment. A duplicate key fails right here, before any stock moves.
        (payment,) = insert_loaded(Payment, dict(
            reference=secrets.token_hex(12), idempotency_key=key, user_id=buyer.id, provider=provider,
            status=PaymentStatus.PENDING, amount=breakdown.total, currency=breakdown.currency, data={},
            created_at=now))
        # In SKU order, whatever the cart's: two checkouts of {A, B} and {B, A} would each hold
        # one stock row and wait for the other's (a deadlock PostgreSQL answers by aborting one).
        for line in sorted(breakdown.lines, key=lambda line: line.sku_id):
            if line.own_stock:
                continue  # its plugin reserves it in order_placing (e.g. a presale quota)
            result = db.session.execute(_TAKE_STOCK, {"q": line.quantity, "id": line.sku_id, "on": True})
            if result.rowcount != 1:
                raise OutOfStock(_("Sold out: %(name)s", name=line.product_name),
                                 details={"sku_id": line.sku_id})
        # The cart is consumed exactly as priced; a concurrent change makes this checkout stale.
        # A buy-now's transient cart was never stored: there is nothing to consume.
        for line in (breakdown.lines if cart is not None and cart.stored else ()):
            result = db.session.execute(_CONSUME_CART_LINE, {"cart": cart.id, "sku": line.sku_id,
                                                            "quantity": line.quantity})
            if result.rowcount != 1:
                raise Conflict(_("Your cart changed meanwhile; please review it and submit again."),
                               code="cart_changed")
        deadline = now + timedelta(minutes=int(get_setting("unpaid_close_minutes")))
        orders = []
        charged = 0
        for group, part in zip(draft.groups, draft.group_breakdowns):
            order = _write_order(draft, group, part, payment, now, deadline)
            record_event(order, "placed", actor=actor)
            host.hook.order_placing(order=order, checkout=draft)
            charged += _link_payment(order, payment, host.hook.payment_due(order=order, checkout=draft), now)
            orders.append(order)
        if sum(o.total for o in orders) != breakdown.total:  # pragma: no cover - split_breakdown guarantees it
            raise Conflict(_("The order totals do not add up; nothing was charged."), code="pricing_error")
        if charged != payment.amount:  # a deposit: the payment charges less than the orders' totals
            payment.amount = charged
            db.session.flush()
        # Everything the response shows was written just now: no reloads after the commit.
        set_committed_value(payment, "orders", orders)
        keep_after_commit(payment, *orders, *(child for o in orders for child in (*o.lines, *o.adjustments)))
    return CheckoutResult(payment=payment, orders=orders, created=True)


def _link_payment(order: Order, payment: Payment, due, now) -> int:
    """Record what the checkout's payment pays towards ``order`` (``payment_due``; None = all)."""
    if due is None:
        due = order.total
    elif isinstance(due, bool) or not isinstance(due, int) or not (0 < due <= order.total):
        raise Conflict(_("The amount due for this order is inconsistent; nothing was charged."),
                       code="pricing_error", details={"order": order.number, "due": str(due)})
    # Core: nothing in the request uses the row as an object, so it needs no RETURNING nor ORM bookkeeping.
    db.session.execute(_ORDER_PAYMENT_INSERT, {"order_id": order.id, "payment_id": payment.id, "amount": due,
                                               "refunded": 0, "created_at": now})
    return due


# The write path's statements, built once: they run while the checkout holds the write
# lock every other writer waits for, and building and keying each cost 10-40 µs.
_TAKE_STOCK = text("UPDATE skus SET stock = stock - :q WHERE id = :id AND stock >= :q AND active = :on")
_CONSUME_CART_LINE = CartLine.__table__.delete().where(
    CartLine.__table__.c.cart_id == bindparam("cart"), CartLine.__table__.c.sku_id == bindparam("sku"),
    CartLine.__table__.c.quantity == bindparam("quantity"))
_ORDER_PAYMENT_INSERT = OrderPayment.__table__.insert()


def _write_order(draft: CheckoutDraft, group: CheckoutGroup, part: Breakdown, payment: Payment, now,
                 deadline) -> Order:
    # An option that needs no address (store pickup) stores none, even if one was typed.
    needs_address = draft.delivery is None or getattr(draft.delivery, "needs_address", True)
    address = (draft.address or {}) if needs_address else {}
    (order,) = insert_loaded(Order, dict(
        number=_order_number(now), user_id=draft.buyer.id, payment_id=payment.id,
        status=OrderStatus.PENDING_PAYMENT, currency=part.currency, subtotal=part.subtotal,
        discount_total=part.discount_total, shipping_total=part.shipping or 0, total=part.total,
        delivery_code=part.delivery_code or "", delivery_label=part.delivery_label or "",
        ship_name=address.get("name", ""), ship_phone=address.get("phone", ""),
        ship_address=one_line(address), contact_email=draft.buyer.email or "", buyer_note=draft.note,
        placed_at=now, pay_deadline=deadline,
        data={"address": address or None, "group": {"key": group.key, "label": group.label,
                                                    "ship_promise": group.ship_promise}},
    ))
    lines = insert_loaded(OrderLine, *(dict(
        order_id=order.id, sku_id=line.sku_id, product_id=line.product_id, product_name=line.product_name,
        sku_code=line.sku_code, sku_label=line.sku_label, unit_price=line.unit_price, quantity=line.quantity,
        line_subtotal=line.subtotal, discount=line.discount, paid_amount=line.paid, refunded_amount=0,
        data={"ship_promise": line.ship_promise, "group": line.group,
              "badges": [getattr(b, "text", str(b)) for b in line.badges],
              # Its plugin took (and gives back) the quantity: close must not restock spot stock.
              **({"no_stock_release": True} if line.own_stock else {})})
        for line in part.lines))
    # Adjustments name the lines they are allocated to by id, known only now.
    line_ids = {row.sku_id: row.id for row in lines}
    adjustments = insert_loaded(OrderAdjustment, *(dict(
        order_id=order.id, position=position, kind=adj.kind, code=adj.code, label=str(adj.label),
        source=adj.source, amount=adj.amount, data=dict(adj.data or {}),
        allocation={str(line_ids[sku]): share for sku, share in adj.allocation.items()})
        for position, adj in enumerate(part.adjustments)))
    # The collections as written: nothing later (hooks, the answer) loads them again.
    set_committed_value(order, "lines", lines)
    set_committed_value(order, "adjustments", adjustments)
    return order

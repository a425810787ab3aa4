"""Cart use cases: the HTML views and the JSON API call these same functions.

A signed-in buyer has one cart (``Cart.user_id`` is unique); a guest's cart
is found by a random token kept in the session. Reading a cart never writes
(a GET must not open a write transaction), so carts are created only from a
POST: by :func:`add_to_cart` once the line it adds has passed every check (a
refused add leaves no empty cart behind), or by ``get_cart(create=True)``.
"""
from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from flask import session
from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..catalog.models import Product, Sku
from ..checkout.pricing import offer_for, sku_availability
from ..context_objects import signed_in_user
from ..database import for_update, insert_loaded, keep_after_commit, loaded_id, write_transaction
from ..errors import ConcurrentUpdate, NotFound, OutOfStock, ValidationFailed
from ..extensions import db
from .. import joined_rows
from ..i18n import gettext as _
from ..joined_rows import JoinedEntities
from ..models_base import MAX_ROW_ID
from ..plugins.memo import forget_request_memo, request_memo
from ..settings import get_setting
from .models import Cart, CartLine

SESSION_KEY = "cart_token"


_CART_ROWS = JoinedEntities(Cart, CartLine, Sku, Product)


@functools.cache
def _cart_rows_query(kind: str):
    # The cart, its lines, their SKUs and products in one query (a cart has a few lines, so
    # the joined rows stay small; every statement is a round trip on PostgreSQL): a row per
    # line, or one for an empty cart. Not the products' images: no cart or checkout view
    # shows them. Built once per kind of owner.
    # A chain of LEFT JOINs: "LEFT JOIN (cart_lines JOIN skus JOIN products)" made SQLite
    # compute the whole inner join, every product and cart line of the shop, before it
    # joined the one cart (tests/perf/walk/test_index_use.py). A line's SKU and product
    # always exist (foreign keys, cascades).
    cart, line, sku, product = (model.__table__ for model in (Cart, CartLine, Sku, Product))
    owned = cart.c.user_id == bindparam("owner") if kind == "user" else \
        and_(cart.c.token == bindparam("owner"), cart.c.user_id.is_(None))
    return (select(*_CART_ROWS.columns)
            .select_from(cart.outerjoin(line, line.c.cart_id == cart.c.id)
                         .outerjoin(sku, sku.c.id == line.c.sku_id).outerjoin(product, product.c.id == sku.c.product_id))
            .where(owned).order_by(line.c.id))  # Cart.lines' order


def _read_cart(kind: str, owner) -> Cart | None:
    """The cart with its lines, their SKUs and products, read in Core and linked as joined
    eager loads would link them (:mod:`storefront.joined_rows`): the ORM's loading cost
    more than the query itself, on every cart, checkout and flash request."""
    session = db.session()
    rows = joined_rows.read(session, _cart_rows_query(kind), {"owner": owner})
    if not rows:
        return None
    cart = _CART_ROWS.objects(session, rows[0])[0]
    lines = []
    for row in rows:
        _cart, line, sku, product = _CART_ROWS.objects(session, row)
        if line is None:
            continue
        joined_rows.link(sku, "product", product)
        joined_rows.link(line, "sku", sku)
        lines.append(line)
    if "lines" not in cart.__dict__:  # a held cart's loaded lines stay, as the ORM leaves them
        set_committed_value(cart, "lines", lines)
    return cart


MEMO = "cart.find_cart"


def find_cart(user=None, token: str | None = None) -> Cart | None:
    """The buyer's (or the guest token's) cart with its lines, SKUs and products loaded.

    Memoised for the request until a cart write here (``_forget``): a page
    finds the cart, then its template slots (coupons, free shipping) and the
    checkout preview ask again.
    """
    key = _owner_key(user, token)
    if key is None:
        return None
    memo = request_memo(MEMO)
    if memo is not None and key in memo:
        return memo[key]  # before building the statement: that alone costs more than the look-up
    kind, owner = key
    cart = _read_cart(kind, owner)
    if memo is not None and cart is not None:
        memo[key] = cart
    return cart


@dataclass(frozen=True)
class CartContents:
    """What a cart holds, without its SKUs and products: enough to tell whether it changed."""
    id: int
    data: dict
    lines: tuple[tuple[int, int], ...]  # (sku_id, quantity), by SKU


def cart_contents(user=None) -> CartContents | None:
    """The current buyer's (or guest's) cart as :class:`CartContents`, or None.

    For a hint that reuses what it worked out while the cart stays the same
    (free shipping's on every product page): one light query of ids and
    numbers, where :func:`find_cart` loads each line's SKU and product. A cart
    this request already loaded is read from the request memo instead.
    """
    user, token = _current_owner(user)
    key = _owner_key(user, token)
    if key is None:
        return None
    memo = request_memo(MEMO)
    if memo is not None and key in memo:
        return contents_of(memo[key])
    kind, owner = key
    rows = db.session.execute(_contents_query(kind), {"owner": owner}).all()
    if not rows:
        return None
    lines = tuple(sorted((row.sku_id, row.quantity) for row in rows if row.sku_id is not None))
    return CartContents(rows[0].id, dict(rows[0].data or {}), lines)


@functools.cache
def _contents_query(kind: str):
    # Built once per process (one per kind of owner): building and keying the statement
    # cost as much CPU as running it.
    return (select(Cart.id, Cart.data, CartLine.sku_id, CartLine.quantity)
            .outerjoin(CartLine, CartLine.cart_id == Cart.id).where(_owned_by((kind, bindparam("owner")))))


def contents_of(cart: Cart | None) -> CartContents | None:
    if cart is None:
        return None
    return CartContents(cart.id, dict(cart.data or {}),
                        tuple(sorted((line.sku_id, line.quantity) for line in cart.lines)))


def _current_owner(user=None) -> tuple:
    """``(buyer, None)`` when signed in, else ``(None, the guest's cart token or None)``."""
    user = user if user is not None else signed_in_user()
    return (user, None) if user is not None else (None, session.get(SESSION_KEY))


def _owner_key(user, token: str | None) -> tuple | None:
    """Whose cart: the key of the request memo, and of :func:`_owned_by`."""
    if user is not None:
        return ("user", loaded_id(user))
    return ("token", token) if token else None


def _owned_by(key: tuple):
    kind, value = key
    return Cart.user_id == value if kind == "user" else and_(Cart.token == value, Cart.user_id.is_(None))


def _forget() -> None:
    """The memoised cart is stale once the request writes a cart (its lines reload lazily otherwise)."""
    forget_request_memo(MEMO)


def get_cart(create: bool = False, user=None) -> Cart | None:
    """The current buyer's (or guest's) cart; ``create`` makes one (call it from a POST only)."""
    user, token = _current_owner(user)
    cart = find_cart(user, token)
    if cart is not None or not create:
        return cart
    if user is None:
        token = secrets.token_urlsafe(32)
    _forget()
    created = Cart(user_id=loaded_id(user) if user is not None else None, token=token, data={})
    try:
        # The signed-in buyer is not written here; keeping them spares the response a reload.
        with write_transaction(keep=(user,), keep_after=True):
            db.session.add(created)
            keep_after_commit(created)  # all its columns were written just now (see add_item)
    except IntegrityError:
        # Another request of the same buyer created it first: use that one.
        created = None
    if user is None:
        session[SESSION_KEY] = token
    if created is not None:
        # A new cart has no lines: it is not read back.
        set_committed_value(created, "lines", [])
        return created
    cart = find_cart(user, token)
    if cart is None:  # pragma: no cover - the insert above or its rival committed
        raise NotFound(_("Your cart could not be opened. Please try again."))
    return cart


def parse_quantity(value, *, field: str = "quantity") -> int:
    """An integer 1..max_line_quantity, or a ValidationFailed naming ``field``."""
    limit = int(get_setting("max_line_quantity"))
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        value = value.strip()
        if value.isdigit() and len(value) <= 9:
            value = int(value)
    if not isinstance(value, int):
        raise ValidationFailed(_("Enter a whole number from 1 to %(max)s.", max=limit), field=field)
    if value < 1 or value > limit:
        raise ValidationFailed(_("Enter a whole number from 1 to %(max)s.", max=limit), field=field)
    return value


def parse_sku_id(value) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROW_ID:
        raise ValidationFailed(_("Choose a product option."), field="sku_id")
    return value


def buyable_sku(sku_id: int, buyer) -> tuple[Sku, int]:
    """The SKU and how many can be bought, or a clear error."""
    sku = _read_sku(sku_id)
    if sku is None:
        raise NotFound(_("That product option does not exist."), field="sku_id")
    if not (sku.active and sku.product.active):
        raise ValidationFailed(_("%(name)s is no longer available.", name=sku.product.name), field="sku_id",
                               code="unavailable")
    offer = offer_for(sku.product, sku, buyer)
    if offer.blocked_reason:
        raise ValidationFailed(str(offer.blocked_reason), field="sku_id", code="unavailable")
    return sku, sku_availability(sku, offer)


_SKU_ROWS = JoinedEntities(Sku, Product)


@functools.cache
def _sku_rows_query():
    # Built once: every add to cart (a flash's first request) reads its SKU and product.
    sku, product = Sku.__table__, Product.__table__
    return select(*_SKU_ROWS.columns).join_from(sku, product, product.c.id == sku.c.product_id) \
        .where(sku.c.id == bindparam("sku_id"))


def _read_sku(sku_id: int) -> Sku | None:
    """The SKU with its product loaded (:mod:`storefront.joined_rows`)."""
    session = db.session()
    rows = joined_rows.read(session, _sku_rows_query(), {"sku_id": sku_id})
    if not rows:
        return None
    sku, product = _SKU_ROWS.objects(session, rows[0])
    joined_rows.link(sku, "product", product)
    return sku


def check_stock(sku: Sku, available: int, quantity: int) -> None:
    if available <= 0:
        raise OutOfStock(_("Sold out: %(name)s", name=sku.product.name), field="quantity")
    if quantity > available:
        raise OutOfStock(_("Only %(n)s left of %(name)s.", n=available, name=sku.product.name),
                         field="quantity", details={"available": available})


def _line(cart: Cart | None, sku_id: int, *, locked: bool = False) -> CartLine | None:
    if cart is None:
        return None
    stmt = select(CartLine).where(CartLine.cart_id == loaded_id(cart), CartLine.sku_id == sku_id)
    if locked:
        # Adding reads the quantity to write it back increased: two adds at once (a double
        # tap, two tabs) would both read 1 and both write 2.
        stmt = for_update(stmt)
    return db.session.execute(stmt).scalar_one_or_none()


def add_to_cart(sku_id, quantity, user=None) -> CartLine:
    """Add ``quantity`` of a SKU to the current buyer's (or guest's) cart, creating the cart.

    Everything is checked before anything is written: a refused add (unknown
    or sold-out SKU, bad quantity) creates no empty cart and, for a guest, no
    cart token -- on a sale day most adds of a sold-out item are refused.
    """
    sku_id = parse_sku_id(sku_id)
    quantity = parse_quantity(quantity)
    user, token = _current_owner(user)
    sku, available = buyable_sku(sku_id, user)
    cart = find_cart(user, token)
    if cart is None:
        check_stock(sku, available, quantity)  # parse_quantity already kept it within the line limit
        line = _new_cart_with_line(user, sku, quantity)
        if line is not None:
            return line
        cart = find_cart(user, token)  # a parallel request of this buyer created the cart first
        if cart is None:  # pragma: no cover - that request's cart committed before our insert failed
            raise ConcurrentUpdate(_("Your cart changed meanwhile; please try again."))
    return _add_checked(cart, sku, available, quantity, user)


def add_item(cart: Cart, sku_id, quantity) -> CartLine:
    """Add ``quantity`` of a SKU to ``cart`` (adding to a line already there), checked against
    stock and the line limit."""
    sku_id = parse_sku_id(sku_id)
    quantity = parse_quantity(quantity)
    buyer = signed_in_user()
    sku, available = buyable_sku(sku_id, buyer)
    return _add_checked(cart, sku, available, quantity, buyer)


def _add_checked(cart: Cart, sku: Sku, available: int, quantity: int, buyer) -> CartLine:
    limit = int(get_setting("max_line_quantity"))
    # What the line already holds only adds to ``quantity``: a sold-out item, or fewer left
    # than asked, is refused before the write lock (SQLite's is the whole database's) --
    # after a sell-out most adds are refused, and those buyers mostly have carts.
    check_stock(sku, available, quantity)
    for attempt in (1, 2):
        try:
            # The SKU as checked (its id; its product's name for a refusal) is kept: the commit
            # that opens the transaction would otherwise make it reload inside the write lock.
            with write_transaction(keep=(buyer, sku, sku.product), keep_after=True):
                line = _line(cart, sku.id, locked=True)
                new_quantity = quantity + (line.quantity if line else 0)
                if new_quantity > limit:
                    raise ValidationFailed(_("At most %(max)s of one item per order.", max=limit), field="quantity")
                check_stock(sku, available, new_quantity)
                if line is None:
                    line = CartLine(cart_id=loaded_id(cart), sku_id=sku.id, quantity=new_quantity)
                    db.session.add(line)
                else:
                    line.quantity = new_quantity
                _touch(cart)
            break
        except IntegrityError:
            # The same line was inserted by a parallel request (double click): add to it instead.
            if attempt == 2:
                raise ConcurrentUpdate(_("Your cart changed meanwhile; please try again.")) from None
    return line


def _new_cart_with_line(user, sku: Sku, quantity: int) -> CartLine | None:
    """The cart and its first line in one write transaction (a flash buyer's first add);
    None when a parallel request of the same buyer created the cart first.

    The cart, the line and the SKU as checked stay loaded: the response prices
    the cart without reading it back.
    """
    token = secrets.token_urlsafe(32) if user is None else None
    kept = (user, sku, sku.product)
    _forget()
    try:
        with write_transaction(keep=kept, keep_after=True):
            # Core INSERTs (every flash buyer's first add, inside the write lock): the
            # unit of work's two flushes cost several times the INSERTs they send.
            (cart,) = insert_loaded(Cart, dict(user_id=loaded_id(user) if user is not None else None,
                                               token=token, data={}))
            (line,) = insert_loaded(CartLine, dict(cart_id=cart.id, sku_id=sku.id, quantity=quantity))
            keep_after_commit(cart, line)  # all their columns were written just now
    except IntegrityError:
        return None
    if user is None:
        session[SESSION_KEY] = token
    set_committed_value(line, "sku", sku)
    set_committed_value(line, "cart", cart)
    set_committed_value(cart, "lines", [line])
    memo = request_memo(MEMO)
    if memo is not None:
        memo[_owner_key(user, token)] = cart
    return line


def set_quantity(cart: Cart | None, sku_id, quantity) -> CartLine:
    """Set a line's quantity (1..max); lowering is always allowed, raising is checked against stock.
    With no cart (None) the line is not found."""
    sku_id = parse_sku_id(sku_id)
    quantity = parse_quantity(quantity)
    line = _line(cart, sku_id)
    if line is None:
        raise NotFound(_("That item is not in your cart."), field="sku_id")
    if quantity > line.quantity:
        sku, available = buyable_sku(sku_id, signed_in_user())
        check_stock(sku, available, quantity)
    with write_transaction():
        line = _line(cart, sku_id)
        if line is None:
            raise NotFound(_("That item is not in your cart."), field="sku_id")
        line.quantity = quantity
        _touch(cart)
    return line


def remove_item(cart: Cart | None, sku_id) -> None:
    sku_id = parse_sku_id(sku_id)
    if cart is None:
        raise NotFound(_("That item is not in your cart."), field="sku_id")
    with write_transaction():
        result = db.session.execute(delete(CartLine).where(CartLine.cart_id == loaded_id(cart), CartLine.sku_id == sku_id))
        if result.rowcount == 0:
            raise NotFound(_("That item is not in your cart."), field="sku_id")
        _touch(cart)


def merge_guest_cart(user) -> Cart | None:
    """Move the session's guest cart into ``user``'s cart, then delete the guest cart.

    Called by the accounts domain right after login. Quantities add up but
    are capped at what can be bought and at the line limit; lines that can
    no longer be bought are dropped.
    """
    token = session.pop(SESSION_KEY, None)
    guest = find_cart(None, token) if token else None
    if guest is None:
        return find_cart(user)
    target = get_cart(create=True, user=user)
    target_id = loaded_id(target)
    limit = int(get_setting("max_line_quantity"))
    guest_lines = [(line.sku_id, line.quantity) for line in guest.lines]
    caps = {}
    for sku_id, _qty in guest_lines:
        try:
            _sku, available = buyable_sku(sku_id, user)
        except (NotFound, ValidationFailed):
            available = 0
        caps[sku_id] = min(available, limit)
    with write_transaction():
        # Locked like an add (see _line): a parallel add must not be overwritten by the merge.
        existing = {line.sku_id: line for line in db.session.execute(
            for_update(select(CartLine).where(CartLine.cart_id == target_id))).scalars()}
        for sku_id, qty in guest_lines:
            line = existing.get(sku_id)
            wanted = min(qty + (line.quantity if line else 0), caps[sku_id])
            if line is not None:
                line.quantity = max(wanted, line.quantity if caps[sku_id] == 0 else 1)
            elif wanted > 0:
                db.session.add(CartLine(cart_id=target_id, sku_id=sku_id, quantity=wanted))
        db.session.execute(delete(CartLine).where(CartLine.cart_id == guest.id))
        db.session.execute(delete(Cart).where(Cart.id == guest.id))
        _touch(target)
    db.session.expire_all()
    _forget()
    return find_cart(user)


def cart_count(cart: Cart | None) -> int:
    return sum(line.quantity for line in cart.lines) if cart is not None else 0


def item_count(user=None) -> int:
    """The current buyer's (or guest's) item count: from the cart this request already
    holds, else one SUM -- the lines, SKUs and products are not loaded for a number."""
    key = _owner_key(*_current_owner(user))
    if key is None:
        return 0
    memo = request_memo(MEMO)
    if memo is not None and key in memo:
        return cart_count(memo[key])
    return int(db.session.execute(
        select(func.coalesce(func.sum(CartLine.quantity), 0)).join(Cart, Cart.id == CartLine.cart_id)
        .where(_owned_by(key))).scalar_one())


def _touch(cart: Cart) -> None:
    """Every change of a cart's lines ends here: bump ``updated_at``, drop the memoised cart."""
    from ..clock import utcnow

    _forget()
    db.session.execute(db.update(Cart).where(Cart.id == loaded_id(cart)).values(updated_at=utcnow()))

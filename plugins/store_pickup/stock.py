"""Optional stock per pickup location.

A store's stock row is its *allocation* of a SKU: the part of the core's
``skus.stock`` (the shop's total sellable stock) that sits on that store's
shelf. The core keeps decrementing ``skus.stock`` at checkout for every
order; a pickup order also takes its lines from the chosen store's row, so a
store never promises more than it holds. Closed before collection, both come
back (the core's restock, :func:`give_back` here); handed over, both stay
taken. A SKU without a row is not tracked at that store: only the core stock
limits it. Courier orders never touch store rows.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storefront.audit.services import record as audit
from storefront.catalog.models import Sku
from storefront.database import write_transaction
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _

from .models import LocationStock

MAX_QUANTITY = 1_000_000


def needs_of(lines) -> dict[int, int]:
    """``{sku_id: quantity}`` of cart, checkout or order lines."""
    needs: dict[int, int] = defaultdict(int)
    for line in lines or ():
        if getattr(line, "sku_id", None) is not None:
            needs[int(line.sku_id)] += int(line.quantity)
    return dict(needs)


def short_locations(location_ids, needs: dict[int, int]) -> set[int]:
    """The locations among ``location_ids`` whose tracked stock cannot fill ``needs``."""
    if not needs or not location_ids:
        return set()
    rows = db.session.execute(select(LocationStock.location_id, LocationStock.sku_id, LocationStock.quantity)
                              .where(LocationStock.location_id.in_(list(location_ids)),
                                     LocationStock.sku_id.in_(list(needs)))).all()
    return {loc for loc, sku, quantity in rows if quantity < needs[sku]}


def can_fill(location_id: int, needs: dict[int, int]) -> bool:
    return location_id not in short_locations([location_id], needs)


def rows_for(location_id: int) -> list[LocationStock]:
    return list(db.session.execute(
        select(LocationStock).join(Sku, Sku.id == LocationStock.sku_id)
        .where(LocationStock.location_id == location_id).order_by(Sku.code)).scalars())


def find_sku(ref) -> Sku:
    """A SKU by id (int) or code (str)."""
    ref = str(ref if ref is not None else "").strip()
    row = None
    if ref.isdigit():
        row = db.session.get(Sku, int(ref))
    if row is None and ref:
        row = db.session.execute(select(Sku).where(Sku.code == ref)).scalar_one_or_none()
    if row is None:
        raise NotFound(_("No product variant with this code."), code="sku_unknown", field="sku")
    return row


def clean_quantity(raw, field: str = "quantity") -> int | None:
    """A whole number from 0, or None for "not tracked" (blank)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        if isinstance(raw, (bool, float)):
            raise ValueError
        number = int(str(raw).strip())
        if not 0 <= number <= MAX_QUANTITY:
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationFailed(_("A whole number from %(low)s to %(high)s, or empty for not tracked.",
                                 low=0, high=MAX_QUANTITY), field=field) from None
    return number


def set_stock(location_id: int, sku_id: int, quantity: int | None, expected: int | None = None, *,
              check_expected: bool = False, field: str = "quantity", actor=None) -> LocationStock | None:
    """Staff count: set a store's stock of a SKU, or stop tracking it (``None``).

    With ``check_expected`` the write happens only if the row still holds
    ``expected`` (``None`` = no row): a checkout that reserved stock while the
    form was open is not silently overwritten (Conflict ``stock_changed``).
    """
    with write_transaction():
        sku = db.session.get(Sku, sku_id)
        if sku is None:
            raise NotFound(_("No product variant with this code."), code="sku_unknown", field="sku")
        if quantity is not None and quantity > int(sku.stock):
            # A store holds part of the shop's stock, never more than all of it.
            raise ValidationFailed(_("At most %(n)s: the shop's whole stock of %(code)s.", n=sku.stock,
                                     code=sku.code), field=field)
        where = (LocationStock.location_id == location_id, LocationStock.sku_id == sku_id)
        before = db.session.execute(select(LocationStock.quantity).where(*where)).scalar()
        audit(actor, "store_pickup.stock_set", object_type="store_pickup_location_stock",
              object_id=f"{location_id}:{sku.code}", before={"quantity": before}, after={"quantity": quantity})
        if quantity is None:
            stmt = delete(LocationStock).where(*where)
            if check_expected and expected is not None:
                stmt = stmt.where(LocationStock.quantity == expected)
            gone = db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount
            if check_expected and expected is not None and gone != 1:
                raise Conflict(_("The stock changed meanwhile; check the new number and save again."),
                               code="stock_changed", field=field)
            return None
        if check_expected and expected is None:
            insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
            made = db.session.execute(insert(LocationStock).values(
                location_id=location_id, sku_id=sku_id, quantity=quantity)
                .on_conflict_do_nothing(index_elements=["location_id", "sku_id"])).rowcount
            if made != 1:
                raise Conflict(_("The stock changed meanwhile; check the new number and save again."),
                               code="stock_changed", field=field)
        else:
            _ensure_row(location_id, sku_id)
            stmt = update(LocationStock).where(*where).values(quantity=quantity)
            if check_expected:
                stmt = stmt.where(LocationStock.quantity == expected)
            if db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount != 1:
                raise Conflict(_("The stock changed meanwhile; check the new number and save again."),
                               code="stock_changed", field=field)
    return db.session.execute(select(LocationStock).where(*where)).scalar_one()


def _ensure_row(location_id: int, sku_id: int) -> None:
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(LocationStock).values(location_id=location_id, sku_id=sku_id, quantity=0)
                       .on_conflict_do_nothing(index_elements=["location_id", "sku_id"]))


def reserve(location_id: int, needs: dict[int, int]) -> list[list[int]]:
    """Inside the checkout transaction: take ``needs`` from the store's tracked rows.

    Returns the ``[[sku_id, quantity]]`` taken (to give back later); raises
    Conflict ``pickup_stock_short`` when a tracked row holds too little.
    """
    taken = []
    for sku_id, quantity in sorted(needs.items()):  # one lock order for every checkout
        won = db.session.execute(
            update(LocationStock).where(LocationStock.location_id == location_id, LocationStock.sku_id == sku_id,
                                        LocationStock.quantity >= quantity)
            .values(quantity=LocationStock.quantity - quantity).execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            taken.append([sku_id, quantity])
            continue
        tracked = db.session.execute(select(LocationStock.id).where(
            LocationStock.location_id == location_id, LocationStock.sku_id == sku_id)).first()
        if tracked is not None:
            raise Conflict(_("The store you chose no longer has enough of an item; choose another store."),
                           code="pickup_stock_short", field="store_pickup_slot")
    return taken


def give_back(location_id: int, taken) -> None:
    """Return reserved stock to the store (a row removed meanwhile is no longer tracked: skipped).

    Callers run this only in the transaction that won the pickup's release marker.
    """
    for sku_id, quantity in taken or ():
        db.session.execute(
            update(LocationStock).where(LocationStock.location_id == location_id,
                                        LocationStock.sku_id == int(sku_id))
            .values(quantity=LocationStock.quantity + int(quantity)).execution_options(synchronize_session=False))


def update_stock(location_id: int, sku_ref, quantity_raw, expected_raw=None, *, check: bool = False,
                 actor=None):
    """The form and API entry: parse staff input, then :func:`set_stock`. Returns (sku, row or None)."""
    sku = find_sku(sku_ref)
    quantity = clean_quantity(quantity_raw)
    expected = clean_quantity(expected_raw, field="expected") if check else None
    return sku, set_stock(location_id, sku.id, quantity, expected, check_expected=check, actor=actor)

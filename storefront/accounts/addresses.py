"""A buyer's delivery addresses. Another user's address is always ``NotFound``."""
from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.orm.attributes import set_committed_value

from .. import joined_rows
from ..database import lock_row, write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..i18n import gettext as _
from .models import Address, User

MAX_ADDRESSES = 20

# field -> (max length, required)
FIELDS: dict[str, tuple[int, bool]] = {
    "name": (120, True),
    "phone": (32, True),
    "province": (80, False),
    "city": (80, False),
    "district": (80, False),
    "line1": (255, True),
    "postcode": (16, False),
}


def clean_address(data: dict[str, Any]) -> dict[str, str]:
    """Strip and check the address fields; raise ``ValidationFailed`` on the first bad one."""
    values: dict[str, str] = {}
    for key, (limit, required) in FIELDS.items():
        value = str(data.get(key) or "").strip()
        if required and not value:
            raise ValidationFailed(_("This field is required."), field=key)
        if len(value) > limit:
            raise ValidationFailed(_("Use at most %(n)s characters.", n=limit), field=key)
        values[key] = value
    return values


def list_addresses(user: User) -> list[Address]:
    return list(db.session.execute(
        select(Address).where(Address.user_id == user.id)
        .order_by(Address.is_default.desc(), Address.id)
    ).scalars())


def addresses_of(user: User) -> list[Address]:
    """``user.addresses`` (in the relationship's order), loaded by a statement built once.

    The checkout page reads them on every view; the relationship's lazy load builds
    and keys its statement anew each time, which cost as much as running it."""
    if "addresses" not in inspect(user).unloaded:
        return user.addresses
    rows = joined_rows.scalars(_addresses_query(), {"uid": user.id})
    set_committed_value(user, "addresses", rows)
    return user.addresses


@functools.cache
def _addresses_query():
    return select(Address).where(Address.user_id == bindparam("uid")).order_by(Address.id)


def get_address(user: User, address_id: int) -> Address:
    try:
        address_id = int(address_id)
    except (TypeError, ValueError):
        raise NotFound(_("We could not find that address.")) from None
    address = db.session.execute(
        select(Address).where(Address.id == address_id, Address.user_id == user.id)
    ).scalar_one_or_none()
    if address is None:
        raise NotFound(_("We could not find that address."))
    return address


def _lock_book(user_id: int) -> None:
    """Changes to one buyer's address book run one at a time, on the buyer's row: counting
    the addresses and choosing the default read other rows than the ones written (two tabs
    saving a first address at once both became the default)."""
    lock_row(User, user_id)


def _make_default(user_id: int, address_id: int) -> None:
    # One statement flips every row, so there is never a moment with two defaults.
    db.session.execute(
        update(Address).where(Address.user_id == user_id)
        .values(is_default=(Address.id == address_id))
        .execution_options(synchronize_session=False)
    )


def add_address(user: User, data: dict[str, Any], *, make_default: bool = False) -> Address:
    """Add an address; the first one becomes the default."""
    values = clean_address(data)
    with write_transaction():
        _lock_book(user.id)
        count = db.session.execute(
            select(func.count()).select_from(Address).where(Address.user_id == user.id)
        ).scalar_one()
        if count >= MAX_ADDRESSES:
            raise Conflict(_("You can keep at most %(n)s addresses.", n=MAX_ADDRESSES),
                           code="too_many_addresses")
        address = Address(user_id=user.id, is_default=False, **values)
        db.session.add(address)
        db.session.flush()
        if make_default or count == 0:
            _make_default(user.id, address.id)
    db.session.refresh(address)
    return address


def update_address(user: User, address_id: int, data: dict[str, Any], *,
                   make_default: bool = False) -> Address:
    values = clean_address(data)
    with write_transaction():
        _lock_book(user.id)
        # Read inside the write transaction: the ownership check and the
        # change see the same row (a concurrent delete cannot slip between).
        address = get_address(user, address_id)
        for key, value in values.items():
            setattr(address, key, value)
        db.session.flush()
        if make_default:
            _make_default(user.id, address.id)
    db.session.refresh(address)
    return address


def delete_address(user: User, address_id: int) -> None:
    """Delete an address; if it was the default, the oldest remaining one takes over."""
    with write_transaction():
        _lock_book(user.id)
        address = get_address(user, address_id)
        was_default = address.is_default
        db.session.delete(address)
        db.session.flush()
        if was_default:
            successor = db.session.execute(
                select(Address.id).where(Address.user_id == user.id).order_by(Address.id).limit(1)
            ).scalar_one_or_none()
            if successor is not None:
                _make_default(user.id, successor)


def set_default(user: User, address_id: int) -> Address:
    with write_transaction():
        _lock_book(user.id)
        address = get_address(user, address_id)
        _make_default(user.id, address.id)
    db.session.refresh(address)
    return address

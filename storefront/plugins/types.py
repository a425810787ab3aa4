"""Values exchanged between the core and plugins through hooks.

They are frozen dataclasses so a plugin cannot change what another sees.
Money amounts are integers in the minor units of the cart's currency.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, Callable

from flask import Blueprint


@dataclass
class Plugin:
    """A plugin's manifest: what ``plugins/<name>/__init__.py`` exposes as ``plugin``."""

    name: str
    title: str
    version: str
    description: str = ""
    #: Object or module holding the ``@hookimpl`` functions, or a list of them
    #: (a large plugin may split its hooks by concern; all share the switch).
    hooks: Any = None
    #: Blueprint(s) registered at load; their routes answer 404 while disabled.
    blueprints: list[Blueprint] = field(default_factory=list)
    #: Hooks that keep serving what the plugin already sold (ship promises,
    #: deadlines and pages of open orders) while it is disabled: called
    #: whatever the switch says, so they must act only on the plugin's own
    #: records. Switching a plugin off stops new business, not old promises.
    lasting_hooks: Any = None
    #: Blueprints that stay reachable while disabled (pages of existing orders).
    lasting_blueprints: list[Blueprint] = field(default_factory=list)
    #: Module with the plugin's models, imported so its tables exist.
    models: ModuleType | None = None
    #: Folder of the plugin's Alembic branch (``versions``).
    migrations: str | None = None
    #: WTForms form class for the plugin's settings in the admin.
    settings_form: type | None = None
    default_settings: dict[str, Any] = field(default_factory=dict)
    #: Enabled on a fresh install.
    enabled_by_default: bool = False


@dataclass(frozen=True)
class Badge:
    """A label on a product card, product page or cart line (e.g. "Presale")."""

    text: str
    kind: str = "info"  # info | presale | sale | warning
    source: str = "core"


@dataclass(frozen=True)
class Offer:
    """What a plugin says about buying a SKU right now.

    ``price`` overrides the SKU price; ``available`` is how many can be
    bought (``None`` = plugin does not limit); ``ship_promise`` is shown
    verbatim wherever the item appears; ``group`` separates orders at checkout.
    ``own_stock`` means the plugin reserves this line's quantity itself in
    ``order_placing`` (e.g. a presale quota): the core then neither limits it
    by, nor takes it from, nor gives it back to the SKU's spot stock, and
    ``available`` is the plugin's own count.
    """

    source: str
    badges: tuple[Badge, ...] = ()
    price: int | None = None
    available: int | None = None
    ship_promise: str | None = None
    group: str | None = None
    blocked_reason: str | None = None
    own_stock: bool = False


@dataclass(frozen=True)
class Adjustment:
    """One discount or fee line of the price breakdown.

    ``amount`` is signed: negative for money off, positive for a fee.
    ``lines`` optionally restricts a discount to some cart line keys (SKU ids).
    """

    code: str
    label: str
    amount: int
    source: str
    kind: str = "discount"  # discount | shipping
    lines: tuple[int, ...] | None = None
    order: int = 100  # applied in ascending order; see hookspecs.cart_adjustments
    data: dict = field(default_factory=dict)


# ``delivery_options(wanted=PRESELECTED)``: the caller needs only the option a buyer who
# has not chosen gets (the first one), e.g. to price a cart page; see the hookspec.
PRESELECTED = "<preselected>"


@dataclass(frozen=True)
class DeliveryOption:
    code: str
    label: str
    fee: int
    source: str
    description: str = ""
    needs_address: bool = True
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """Something that blocks a checkout, shown to the buyer."""

    code: str
    message: str
    source: str
    field: str | None = None


@dataclass(frozen=True)
class CheckoutGroup:
    """A subset of cart lines that becomes one order (see ``split_checkout``)."""

    key: str
    sku_ids: tuple[int, ...]
    label: str = ""
    ship_promise: str | None = None


@dataclass(frozen=True)
class MenuItem:
    label: str
    endpoint: str
    icon: str = ""
    order: int = 100
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Widget:
    title: str
    html: str
    order: int = 100


@dataclass(frozen=True)
class OrderEventInfo:
    """An event passed to ``order_event`` after commit."""

    order_id: int
    kind: str
    from_status: str | None
    to_status: str | None
    reason: str
    actor_kind: str
    at: datetime


Callback = Callable[..., Any]

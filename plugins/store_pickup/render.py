"""Markup for the template slots: pickup fields at checkout, the pickup panel on order pages."""
from __future__ import annotations

from functools import lru_cache

from flask import get_template_attribute, render_template
from markupsafe import Markup, escape

from storefront.context_objects import user_object
from storefront.i18n import babel_locale_name

from . import services
from .qr import qr_svg
from .pickups import can_see_code, pickup_for_order
from .slots import WEEKDAYS, format_range, shop_zone, to_local


def hours_rows(location) -> list[tuple[int, str]]:
    return [(int(day), format_range((location.hours or {}).get(day))) for day in WEEKDAYS]


def hours_html(location) -> Markup:
    """A store's week (``_hours.html`` for its :func:`hours_rows`).

    Every checkout page shows each store's week: as an include rendered each time it cost
    the page 0.55 million instructions (two stores, ``bench/inprocess.py --instructions``).
    The table depends only on its rows and the language of its day names, both in the key,
    so it is kept per process.
    """
    return _hours_table(babel_locale_name(), tuple(hours_rows(location)))


@lru_cache(maxsize=256)  # a few stores, three languages
def _hours_table(locale: str, rows: tuple) -> Markup:
    # ``locale`` only keys the table: render_template speaks the request's language, which it names.
    return Markup(render_template("store_pickup/_hours.html", rows=rows))


@lru_cache(maxsize=4096)
def _option_parts(location_name: str, slot) -> tuple[str, str]:
    # The slot <select> lists every slot of every store for days ahead: building each
    # <option> in Jinja (two strftime, escapes) was a fifth of the checkout page. The
    # markup depends only on the store's name and the (frozen) slot, so it is kept per process.
    label = f"{location_name} · {slot.local_start.strftime('%Y-%m-%d %H:%M')}–{slot.local_end.strftime('%H:%M')}"
    return f'<option value="{escape(slot.key)}"', f">{escape(label)}</option>"


#: A store's whole list of options, by its name and its slots' (key, end): at most this many.
_OPTION_LISTS: dict[tuple, str] = {}
MAX_OPTION_LISTS = 256


def slot_options(location, slots) -> Markup:
    """The ``<option>`` elements of one store's slots, none of them marked.

    A store offers a few dozen slots a day for days ahead, and every checkout page lists
    them all: looking each one up in ``_option_parts``'s cache was still a twentieth of the
    page. The list's markup depends only on the store's name and which slots it has (their
    keys and ends: the start alone would not tell a changed slot length), so the joined
    list is kept (it serves every new copy of the open slots, :mod:`.reuse`).
    """
    identity = (location.name, tuple((slot.key, slot.local_end) for slot in slots))
    html = _OPTION_LISTS.get(identity)
    if html is None:
        html = "".join(head + tail for head, tail in (_option_parts(location.name, slot) for slot in slots))
        if len(_OPTION_LISTS) >= MAX_OPTION_LISTS:
            _OPTION_LISTS.clear()
        _OPTION_LISTS[identity] = html
    return Markup(html)


def mark_selected(options: Markup, selected: str) -> Markup:
    """``options`` (markup of ``<option>`` elements) with the one whose value is ``selected``
    marked; a value it does not offer marks nothing."""
    if not selected:
        return options
    head = f'<option value="{escape(selected)}">'
    # str's replace: Markup's would escape the markup it is given.
    return Markup(str.replace(options, head, head[:-1] + " selected>", 1))


def _chooser(locations, slots: dict) -> tuple[Markup, Markup]:
    """The stores' descriptions and the ``<select>`` of their open slots, nothing chosen."""
    groups = [(loc, slots[loc.id]) for loc in locations]
    stores = get_template_attribute("store_pickup/_chooser.html", "stores")
    select = get_template_attribute("store_pickup/_chooser.html", "slot_select")
    return Markup(stores(groups, hours_html)), Markup(select(groups, services.FIELD_SLOT, slot_options))


def checkout_fields(checkout) -> Markup | None:
    if checkout is None or not any(o.code == services.OPTION_CODE for o in checkout.delivery_options):
        return None
    buyer = checkout.buyer
    extra = checkout.extra or {}
    locations = services.locations_for_buyer(buyer, checkout.lines, checkout.address)
    offered = services.offered_slots(locations)
    # Every buyer who sees these stores in this order and language sees the same markup.
    stores, select = offered.markup((babel_locale_name(), tuple(loc.id for loc in locations)),
                                    lambda: _chooser(locations, offered.slots))
    problems = {p.field: p.message for p in checkout.problems if p.source == services.PLUGIN_NAME}
    values = {
        "slot": extra.get(services.FIELD_SLOT, ""),
        "name": extra.get(services.FIELD_NAME, getattr(buyer, "name", "") or ""),
        "phone": extra.get(services.FIELD_PHONE, getattr(buyer, "phone", "") or ""),
    }
    return Markup(render_template("store_pickup/checkout_fields.html", stores=stores,
                                  select=mark_selected(select, values["slot"]), values=values,
                                  problems=problems, chosen=services.is_pickup(checkout),
                                  fields=(services.FIELD_SLOT, services.FIELD_NAME, services.FIELD_PHONE)))


def order_panel(order, staff_page: bool = False) -> Markup | None:
    if order is None:
        return None
    pickup = pickup_for_order(order.id)
    if pickup is None:
        return None
    zone = shop_zone()
    show_code = can_see_code(pickup, user_object()) and pickup.status == "ready" and bool(pickup.open_code)
    return Markup(render_template(
        "store_pickup/order_panel.html", pickup=pickup, location=pickup.location, staff_page=staff_page,
        show_code=show_code, qr=qr_svg(pickup.open_code, label=pickup.open_code) if show_code else None,
        slot_start=to_local(pickup.slot_start, zone), slot_end=to_local(pickup.slot_end, zone),
        hours_html=hours_html))

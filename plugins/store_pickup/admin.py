"""Staff pages: locations, open pickups (ready, bulk ready), the counter screen.

A ``lasting_blueprints`` entry of the manifest, so the pages stay up while
the plugin is disabled: pickups already placed must still be handed over.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from storefront.admin.access import staff_required
from storefront.clock import utcnow
from storefront.errors import NotFound, ServiceError, ValidationFailed
from storefront.forms import show_service_error
from storefront.i18n import gettext as _
from storefront.plugins.host import get_host

from . import pickups, services
from . import stock as stocklib
from .forms import LocationForm, StockForm, VerifyForm
from .limits import verify_limit
from .render import hours_rows
from .slots import format_range, shop_zone, to_local, to_utc

bp = Blueprint("store_pickup_admin", __name__, template_folder="templates", url_prefix="/admin/pickup")
#: What staff need to finish pickups placed before the plugin was switched off.
SERVICE_ENDPOINTS = frozenset({"index", "counter", "verify", "ready"})


@bp.before_request
def _serviceable_while_disabled():
    # Disabled: the pages that serve open pickups stay up while there are any;
    # everything else answers 404 like any route of a disabled plugin.
    if get_host().is_enabled(services.PLUGIN_NAME):
        return None
    if (request.endpoint or "").rsplit(".", 1)[-1] in SERVICE_ENDPOINTS and pickups.open_pickups(limit=1):
        return None
    abort(404)


def _location_or_404(location_id: int):
    try:
        return services.get_location(location_id)
    except NotFound:
        abort(404)


def _show_errors(form, exc: ValidationFailed) -> None:
    show_service_error(form, exc, default="name")


@bp.get("/")
@staff_required
def index():
    zone = shop_zone()
    return render_template("store_pickup/admin_index.html", locations=services.list_locations(),
                           pickups=pickups.open_pickups(), local=lambda v: to_local(v, zone),
                           hours_rows=hours_rows, editable=get_host().is_enabled(services.PLUGIN_NAME))


@bp.route("/locations/new", methods=["GET", "POST"])
@staff_required
def create_location():
    form = LocationForm()
    if form.validate_on_submit():
        try:
            services.create_location(form.to_data(), current_user._get_current_object())
        except ValidationFailed as exc:
            _show_errors(form, exc)
        else:
            flash(_("Location saved."), "success")
            return redirect(url_for(".index"))
    return render_template("store_pickup/admin_location.html", form=form, location=None), \
        422 if form.errors else 200


@bp.route("/locations/<int:location_id>", methods=["GET", "POST"])
@staff_required
def edit_location(location_id: int):
    location = _location_or_404(location_id)
    form = LocationForm(obj=location) if request.method == "GET" else LocationForm()
    if request.method == "GET":
        for day in range(7):
            form[f"hours_{day}"].data = format_range((location.hours or {}).get(str(day)))
        form.closed_dates.data = "\n".join(location.closed_dates or [])
    if form.validate_on_submit():
        try:
            services.update_location(location_id, form.to_data(), current_user._get_current_object())
        except ValidationFailed as exc:
            _show_errors(form, exc)
        else:
            flash(_("Location saved."), "success")
            return redirect(url_for(".index"))
    return render_template("store_pickup/admin_location.html", form=form, location=location), \
        422 if form.errors else 200


@bp.post("/locations/<int:location_id>/delete")
@staff_required
def delete_location(location_id: int):
    _location_or_404(location_id)
    try:
        services.delete_location(location_id, current_user._get_current_object())
    except ServiceError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Location deleted."), "success")
    return redirect(url_for(".index"))


@bp.post("/ready")
@staff_required
def ready():
    """Single or bulk: every checked ``pickup_id`` is marked ready."""
    ids = request.form.getlist("pickup_id")
    if not ids:
        flash(_("Choose at least one pickup."), "error")
    else:
        done, errors = pickups.mark_ready_many(ids, current_user._get_current_object())
        if done:
            flash(_("%(n)s pickup(s) marked ready; the buyers were notified.", n=done), "success")
        for message in errors:
            flash(message, "error")
    back = request.form.get("next") or ""
    return redirect(back if back.startswith("/") and not back.startswith("//") else url_for(".index"))


def _today_window(zone):
    today = to_local(utcnow(), zone).date()
    start = datetime.combine(today, time(0))
    return today, to_utc(start, zone), to_utc(start + timedelta(days=1), zone)


def _counter(location, form, status=200, result=None):
    zone = shop_zone()
    today, start, end = _today_window(zone)
    rows = pickups.pickups_for_day(location.id, start, end)
    by_slot: dict = {}
    for row in rows:
        by_slot.setdefault(to_local(row.slot_start, zone), []).append(row)
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("preparing", "ready", "collected")}
    return render_template("store_pickup/counter.html", location=location, form=form, today=today,
                           by_slot=sorted(by_slot.items()), counts=counts, result=result), status


@bp.get("/counter/<int:location_id>")
@staff_required
def counter(location_id: int):
    return _counter(_location_or_404(location_id), VerifyForm(formdata=None))


@bp.post("/counter/<int:location_id>/verify")
@staff_required
@verify_limit
def verify(location_id: int):
    location = _location_or_404(location_id)
    form = VerifyForm()
    if not form.validate():
        return _counter(location, form, 422)
    try:
        pickup = pickups.verify_code(location.id, form.code.data, current_user._get_current_object())
    except ServiceError as exc:
        form.code.errors = list(form.code.errors) + [exc.message]
        return _counter(location, form, exc.status if exc.status < 500 else 422)
    flash(_("Handed over: order %(number)s to %(name)s.", number=pickup.order.number,
            name=pickup.contact_name), "success")
    return redirect(url_for(".counter", location_id=location.id))


# -- stock per location -------------------------------------------------------------------
def _stock_page(location, forms: dict, add_form, status=200):
    rows = stocklib.rows_for(location.id)
    row_forms = []
    for row in rows:
        form = forms.get(row.sku_id)
        if form is not None:
            form.expected.data = str(row.quantity)  # the count now: saving again overrides knowingly
        else:
            form = StockForm(formdata=None, sku=row.sku.code, quantity=str(row.quantity),
                             expected=str(row.quantity), check="1")
        row_forms.append((row, form))
    return render_template("store_pickup/admin_stock.html", location=location, row_forms=row_forms,
                           add_form=add_form), status


@bp.get("/locations/<int:location_id>/stock")
@staff_required
def stock(location_id: int):
    return _stock_page(_location_or_404(location_id), {}, StockForm(formdata=None))


@bp.post("/locations/<int:location_id>/stock")
@staff_required
def set_stock(location_id: int):
    """One row (``check=1``: only if the count shown is still current) or the "add" form."""
    location = _location_or_404(location_id)
    form = StockForm()
    check = form.check.data == "1"
    if form.validate():
        try:
            sku, row = stocklib.update_stock(location.id, form.sku.data, form.quantity.data, form.expected.data,
                                             check=check, actor=current_user._get_current_object())
        except ServiceError as exc:
            if not show_service_error(form, exc, default="quantity", aliases={"expected": "quantity"}):
                flash(exc.message, "error")
        else:
            if row is None:
                flash(_("%(code)s is no longer tracked at this store.", code=sku.code), "success")
            else:
                flash(_("%(code)s: %(n)s in this store.", code=sku.code, n=row.quantity), "success")
            return redirect(url_for(".stock", location_id=location.id))
    if check:
        try:
            sku_id = stocklib.find_sku(form.sku.data).id
        except ServiceError:
            sku_id = None
        return _stock_page(location, {sku_id: form}, StockForm(formdata=None), 422)
    return _stock_page(location, {}, form, 422)

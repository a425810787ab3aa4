"""Staff pages: locations, open pickups (ready, bulk ready), the counter screen.

Registered from the ``configure`` hook rather than the manifest so the pages
stay up while the plugin is disabled: pickups already placed must still be
handed over.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from storefront.admin.access import staff_required
from storefront.clock import utcnow
from storefront.errors import NotFound, ServiceError, ValidationFailed
from storefront.forms import show_service_error

from . import pickups, services
from .forms import LocationForm, VerifyForm
from .render import hours_rows
from .slots import format_range, shop_zone, to_local, to_utc

bp = Blueprint("store_pickup_admin", __name__, template_folder="templates")


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
                           hours_rows=hours_rows)


@bp.route("/locations/new", methods=["GET", "POST"])
@staff_required
def create_location():
    form = LocationForm()
    if form.validate_on_submit():
        try:
            services.create_location(form.to_data())
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
            services.update_location(location_id, form.to_data())
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
        services.delete_location(location_id)
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

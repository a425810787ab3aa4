"""Staff pages: carrier registry, an order's parcels and events, the stuck-parcel list."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from storefront.admin.access import staff_required
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.forms import show_service_error
from storefront.i18n import gettext as _
from storefront.orders.display import status_label
from storefront.orders.queries import get_order_by_number

from . import carriers as registry
from . import services
from .forms import STATUS_LABELS, CarrierForm, EventForm, ParcelForm

bp = Blueprint("order_tracking_admin", __name__, url_prefix="/admin/tracking", template_folder="templates")


@bp.context_processor
def _words():
    return {"status_words": STATUS_LABELS, "status_label": status_label}


def _show_error(form, exc: ValidationFailed, default: str) -> None:
    show_service_error(form, exc, default=default)


@bp.get("/carriers")
@staff_required
def carriers():
    return render_template("order_tracking/admin_carriers.html", carriers=registry.list_carriers(),
                           preset_only=registry.registry_is_empty())


@bp.post("/carriers/preset")
@staff_required
def load_preset():
    added = registry.seed_preset(current_user._get_current_object())
    flash(_("%(n)s carriers added.", n=added), "success")
    return redirect(url_for(".carriers"))


@bp.route("/carriers/new", methods=["GET", "POST"])
@bp.route("/carriers/<int:carrier_id>/edit", methods=["GET", "POST"])
@staff_required
def carrier_form(carrier_id: int | None = None):
    carrier = None
    if carrier_id is not None:
        try:
            carrier = registry.get_carrier(carrier_id)
        except NotFound:
            abort(404)
    form = CarrierForm(obj=carrier) if request.method == "GET" else CarrierForm()
    if form.validate_on_submit():
        data = {k: form[k].data for k in ("code", "name", "tracking_url", "transit_days", "active")}
        try:
            if carrier is None:
                registry.create_carrier(data, current_user._get_current_object())
            else:
                registry.update_carrier(carrier.id, data, current_user._get_current_object())
        except ValidationFailed as exc:
            _show_error(form, exc, "name")
        else:
            flash(_("Carrier saved."), "success")
            return redirect(url_for(".carriers"))
    return render_template("order_tracking/admin_carrier_form.html", form=form, carrier=carrier), \
        422 if form.errors else 200


@bp.post("/carriers/<int:carrier_id>/delete")
@staff_required
def carrier_delete(carrier_id: int):
    try:
        registry.delete_carrier(carrier_id, current_user._get_current_object())
    except NotFound:
        abort(404)
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(_("Carrier deleted."), "success")
    return redirect(url_for(".carriers"))


def _order_or_404(number: str):
    try:
        return get_order_by_number(number)
    except NotFound:
        abort(404)


def _parcel_form() -> ParcelForm:
    form = ParcelForm(prefix="parcel")
    form.carrier.choices = [SelectChoice(c.code, c.name) for c in registry.list_carriers() if c.active]
    return form


def _render_order(order, parcel_form=None, event_form=None, event_parcel=None, status=200):
    return render_template("order_tracking/admin_order.html", order=order,
                           parcels=services.parcels_of(order.id), parcel_form=parcel_form or _parcel_form(),
                           event_form=event_form or EventForm(prefix="event"), event_parcel=event_parcel,
                           blank_event=EventForm(prefix="event", formdata=None)), status


@bp.get("/orders/<number>")
@staff_required
def order_parcels(number: str):
    return _render_order(_order_or_404(number))


@bp.post("/orders/<number>/parcels")
@staff_required
def parcel_add(number: str):
    order = _order_or_404(number)
    form = _parcel_form()
    if form.validate_on_submit():
        try:
            services.add_parcel(order, current_user, form.carrier.data, form.tracking_number.data)
        except ValidationFailed as exc:
            _show_error(form, exc, "tracking_number")
        else:
            flash(_("Parcel added."), "success")
            return redirect(url_for(".order_parcels", number=number))
    return _render_order(order, parcel_form=form, status=422)


@bp.post("/orders/<number>/parcels/<int:parcel_id>/events")
@staff_required
def event_add(number: str, parcel_id: int):
    order = _order_or_404(number)
    try:
        parcel = services.get_parcel(parcel_id)
    except NotFound:
        abort(404)
    if parcel.order_id != order.id:
        abort(404)
    form = EventForm(prefix="event")
    if form.validate_on_submit():
        try:
            services.add_event(parcel.id, current_user, {"at": form.at.data, "status": form.status.data,
                                                         "location": form.location.data or "",
                                                         "description": form.description.data or ""})
        except ValidationFailed as exc:
            _show_error(form, exc, "description")
        else:
            flash(_("Event added."), "success")
            return redirect(url_for(".order_parcels", number=number))
    return _render_order(order, event_form=form, event_parcel=parcel.id, status=422)


@bp.get("/stuck")
@staff_required
def stuck():
    after = request.args.get("after", type=int)
    rows, next_after = services.stuck_parcels(after_id=after)
    return render_template("order_tracking/admin_stuck.html", parcels=rows, next_after=next_after,
                           days=services.settings()["stuck_days"])

"""Admin pages: orders (list, detail with actions, batch shipping)."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from ..checkout.pricing import order_breakdown
from ..clock import utcnow
from ..errors import ServiceError
from ..i18n import gettext as _
from ..orders import csv_io, services
from ..orders.display import close_reason_label, describe_event, status_label
from ..orders.forms import ActionForm, ImportTrackingForm, SellerCancelForm, ShipForm, StaffFilterForm, StaffNoteForm
from ..orders.queries import StaffOrderFilters, staff_flags
from ..orders.status import CANCEL_REASON_LABELS, NOTE_FLAG_LABELS, STATUS_LABELS, OrderStatus
from .access import staff_required
from .views import bp

PAGE_SIZE = 50


@bp.get("/orders")
@staff_required
def orders():
    form = StaffFilterForm(request.args)
    if not form.validate():
        filters = StaffOrderFilters()
    else:
        filters = StaffOrderFilters(status=form.status.data or None, date_from=form.date_from.data,
                                    date_to=form.date_to.data, q=form.q.data or "",
                                    overdue_to_ship=bool(form.overdue.data))
    rows, next_after = services.staff_orders(filters, after_id=request.args.get("after", type=int),
                                             limit=PAGE_SIZE)
    next_url = None
    if next_after:
        args = request.args.to_dict()
        args["after"] = next_after
        next_url = url_for("admin.orders", **args)
    return render_template("admin/orders/list.html", orders=rows, form=form, next_url=next_url,
                           labels=STATUS_LABELS, now=utcnow(), flag_labels=NOTE_FLAG_LABELS,
                           staff_flags=staff_flags)


def _forms():
    return {"ship_form": ShipForm(prefix="ship"), "cancel_form": SellerCancelForm(prefix="cancel"),
            "note_form": StaffNoteForm(prefix="note"), "action_form": ActionForm()}


def _render_detail(order, status_code=200, **forms):
    context = _forms()
    context.update(forms)
    return render_template(
        "admin/orders/detail.html", order=order, breakdown=order_breakdown(order), events=order.events,
        notes=order.notes, describe_event=describe_event, status_label=status_label,
        close_reason_label=close_reason_label, flag_labels=NOTE_FLAG_LABELS, reason_labels=CANCEL_REASON_LABELS,
        status=OrderStatus(order.status), now=utcnow(), **context,
    ), status_code


@bp.get("/orders/<number>")
@staff_required
def order_detail(number):
    return _render_detail(services.get_order_by_number(number))


def _submit(number, form, form_name, call, done_message):
    """Validate ``form``, run the service; errors go next to their field or in a flash."""
    order = services.get_order_by_number(number)
    if form.validate_on_submit():
        try:
            call(order, form)
        except ServiceError as exc:
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None:
                field.errors = [*field.errors, exc.message]
            else:
                flash(exc.message, "error")
                return redirect(url_for("admin.order_detail", number=order.number), 303)
        else:
            flash(done_message, "success")
            return redirect(url_for("admin.order_detail", number=order.number), 303)
    return _render_detail(services.get_order_by_number(number), 422, **{form_name: form})


@bp.post("/orders/<number>/ship")
@staff_required
def order_ship(number):
    return _submit(number, ShipForm(prefix="ship"), "ship_form",
                   lambda o, f: services.ship_order(o, current_user, f.carrier.data, f.tracking_number.data),
                   _("Marked as shipped; the buyer was notified."))


@bp.post("/orders/<number>/cancel")
@staff_required
def order_cancel(number):
    return _submit(number, SellerCancelForm(prefix="cancel"), "cancel_form",
                   lambda o, f: services.cancel_by_seller(o, current_user, f.reason.data, f.note.data or ""),
                   _("The order was cancelled."))


@bp.post("/orders/<number>/notes")
@staff_required
def order_note(number):
    return _submit(number, StaffNoteForm(prefix="note"), "note_form",
                   lambda o, f: services.add_note(o, current_user, f.body.data, f.flag.data, is_staff=True),
                   _("Note added."))


@bp.post("/orders/<number>/extend-auto-confirm")
@staff_required
def order_extend(number):
    return _submit(number, ActionForm(), "action_form",
                   lambda o, f: services.extend_auto_confirm(o, current_user),
                   _("Automatic confirmation extended."))


@bp.post("/orders/<number>/remind")
@staff_required
def order_remind(number):
    return _submit(number, ActionForm(), "action_form",
                   lambda o, f: services.remind_unpaid(o, current_user),
                   _("The buyer was reminded to pay."))


# -- batch shipping ------------------------------------------------------------------
@bp.get("/orders/batch")
@staff_required
def order_batch():
    return render_template("admin/orders/batch.html", form=ImportTrackingForm(), results=None)


@bp.get("/orders/export.csv")
@staff_required
def order_export():
    filename = f"awaiting-shipment-{utcnow():%Y%m%d-%H%M}.csv"
    return Response(stream_with_context(csv_io.export_awaiting_shipment()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@bp.post("/orders/import")
@staff_required
def order_import():
    """Check the file here (problems with the file itself go next to the field),
    then ship in a background job and show its progress page."""
    form = ImportTrackingForm()
    if form.validate_on_submit():
        raw = form.file.data.stream.read(csv_io.MAX_IMPORT_BYTES + 1)
        try:
            job_id = csv_io.start_tracking_import(raw, current_user, title=_("Import tracking numbers"),
                                                  back_url=url_for("admin.order_batch"))
        except ServiceError as exc:
            form.file.errors = [*form.file.errors, exc.message]
        else:
            return redirect(url_for("admin.job", job_id=job_id), 303)
    return render_template("admin/orders/batch.html", form=form, results=None), 422

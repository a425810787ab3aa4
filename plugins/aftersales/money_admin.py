"""Staff pages of the money side: metrics dashboard, registries, store credit."""
from __future__ import annotations

import secrets

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select

from storefront.accounts.models import User
from storefront.admin.access import staff_required
from storefront.clock import utcnow
from storefront.errors import ServiceError, ValidationFailed
from storefront.extensions import db
from storefront.forms import show_service_error
from storefront.i18n import gettext as _

from . import charts, compensation, credit, metrics, registries
from .money_forms import (CreditAdjustForm, ParcelClaimForm, ParcelStatusForm, WrongShipmentForm)

bp = Blueprint("aftersales_money_admin", __name__, url_prefix="/admin/aftersales/money",
               template_folder="templates")

#: Charts on the metrics page: (figure key, formatter name), titles in ``_chart_titles``.
CHARTS = (
    ("product_experience_rate_bp", "percent"),
    ("refund_only_avg_seconds", "duration"),
    ("return_avg_seconds", "duration"),
    ("dispute_rate_bp", "percent"),
    ("seller_cancellation_rate_bp", "percent"),
    ("late_shipment_rate_bp", "percent"),
    ("auto_approved_share_bp", "percent"),
    ("first_response_avg_seconds", "duration"),
)


def _chart_titles() -> dict:
    return {
        "product_experience_rate_bp": _("Product-experience refund rate"),
        "refund_only_avg_seconds": _("Refund-only completion time"),
        "return_avg_seconds": _("Return-refund completion time"),
        "dispute_rate_bp": _("Dispute refund rate"),
        "seller_cancellation_rate_bp": _("Seller-cancellation rate"),
        "late_shipment_rate_bp": _("Late-shipment rate"),
        "auto_approved_share_bp": _("Auto-approved share"),
        "first_response_avg_seconds": _("First-response time"),
    }


def _settings() -> dict:
    return credit._settings()


def _days() -> int:
    try:
        return max(1, min(int(request.args.get("days", 30)), 90))
    except (TypeError, ValueError):
        return 30


def _csv(chunks, filename: str) -> Response:
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- metrics ----------------------------------------------------------------------------
@bp.get("/metrics", endpoint="metrics")
@staff_required
def metrics_page():
    days = _days()
    rep = metrics.report(utcnow(), days, first_response_minutes=int(_settings().get("first_response_minutes", 5)))
    formatters = {"percent": charts.percent, "duration": charts.duration}
    titles = _chart_titles()
    panels = []
    for key, fmt_name in CHARTS:
        fmt = formatters[fmt_name]
        values = [rep.rows[d][key] for d in rep.days]
        panels.append({"key": key, "title": titles[key], "value": fmt(rep.summary[key]),
                       "chart": charts.bar_chart(rep.days, values, title=titles[key], fmt=fmt)})
    return render_template("aftersales/money_metrics.html", rep=rep, panels=panels, days=days,
                           percent=charts.percent, duration=charts.duration, segments=metrics.SEGMENTS)


@bp.get("/metrics.csv")
@staff_required
def metrics_csv():
    rep = metrics.report(utcnow(), _days(), first_response_minutes=int(_settings().get("first_response_minutes", 5)))

    def rows():
        yield registries.BOM + registries._line(["day", *metrics.CSV_COLUMNS])
        for d in rep.days:
            yield registries._line([d, *("" if rep.rows[d][c] is None else rep.rows[d][c]
                                         for c in metrics.CSV_COLUMNS)])
        yield registries._line(["total", *("" if rep.summary[c] is None else rep.summary[c]
                                           for c in metrics.CSV_COLUMNS)])
    return _csv(rows(), f"aftersales-metrics-{utcnow():%Y%m%d}.csv")


# -- registries ---------------------------------------------------------------------------
@bp.get("/registries", endpoint="registries")
@staff_required
def registries_page():
    threshold = int(_settings().get("quality_flag_threshold", 3))
    return render_template("aftersales/money_registries.html",
                           flags=registries.quality_flags(utcnow(), threshold), threshold=threshold,
                           wrong_candidates=registries.case_candidates("wrong", 20),
                           parcel_candidates=registries.case_candidates("parcel", 20))


@bp.get("/registries/quality.csv")
@staff_required
def quality_csv():
    rows = registries.quality_flags(utcnow(), int(_settings().get("quality_flag_threshold", 3)))
    return _csv(registries.quality_flags_csv(rows), f"quality-flags-{utcnow():%Y%m%d}.csv")


def _month():
    month = request.args.get("month") or None
    try:
        registries.month_bounds(month, utcnow())
    except ValidationFailed:
        abort(400)
    return month


@bp.route("/registries/wrong-shipments", methods=["GET", "POST"])
@staff_required
def wrong_shipments():
    form = WrongShipmentForm()
    if request.method == "GET" and request.args.get("case_id"):
        form.process(data=registries.prefill("wrong", request.args.get("case_id")))
    if form.validate_on_submit():
        try:
            registries.log_wrong_shipment(current_user, {
                "order_number": form.order_number.data, "case_id": form.case_id.data,
                "expected_item": form.expected_item.data, "sent_item": form.sent_item.data,
                "quantity": form.quantity.data, "resolution": form.resolution.data, "cost": form.cost.data,
                "note": form.note.data})
        except ServiceError as exc:
            show_service_error(form, exc, default="order_number")
        else:
            flash(_("Wrong shipment logged."), "success")
            return redirect(url_for(".wrong_shipments"))
    rows, label = registries.wrong_shipments(_month())
    return render_template("aftersales/money_wrong_shipments.html", form=form, rows=rows, month=label), \
        422 if form.errors else 200


@bp.get("/registries/wrong-shipments.csv")
@staff_required
def wrong_shipments_csv():
    rows, label = registries.wrong_shipments(_month())
    return _csv(registries.wrong_shipments_csv(rows), f"wrong-shipments-{label}.csv")


@bp.route("/registries/parcels", methods=["GET", "POST"])
@staff_required
def parcels():
    form = ParcelClaimForm()
    if request.method == "GET" and request.args.get("case_id"):
        data = registries.prefill("parcel", request.args.get("case_id"))
        if "paid_to_buyer" in data:
            data["paid_to_buyer"] = registries._minor(data["paid_to_buyer"], credit.shop_currency())
        form.process(data=data)
    if form.validate_on_submit():
        try:
            registries.log_parcel_claim(current_user, {
                "order_number": form.order_number.data, "case_id": form.case_id.data, "kind": form.kind.data,
                "carrier": form.carrier.data, "tracking_number": form.tracking_number.data,
                "paid_to_buyer": form.paid_to_buyer.data, "claimed_from_carrier": form.claimed_from_carrier.data,
                "note": form.note.data})
        except ServiceError as exc:
            show_service_error(form, exc, default="order_number")
        else:
            flash(_("Parcel claim logged."), "success")
            return redirect(url_for(".parcels"))
    carrier = (request.args.get("carrier") or "").strip()[:40] or None
    rows, label, totals = registries.parcel_claims(_month(), carrier)
    return render_template("aftersales/money_parcels.html", form=form, rows=rows, month=label, totals=totals,
                           carrier=carrier, status_form=ParcelStatusForm()), 422 if form.errors else 200


@bp.post("/registries/parcels/<int:claim_id>/status")
@staff_required
def parcel_status(claim_id: int):
    form = ParcelStatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        registries.set_parcel_status(current_user, claim_id, form.status.data)
    except ServiceError as exc:
        if exc.status == 404:
            abort(404)
        flash(exc.message, "error")
    else:
        flash(_("Status saved."), "success")
    return redirect(url_for(".parcels", month=request.args.get("month") or None))


@bp.get("/registries/parcels.csv")
@staff_required
def parcels_csv():
    carrier = (request.args.get("carrier") or "").strip()[:40] or None
    rows, label, _totals = registries.parcel_claims(_month(), carrier)
    return _csv(registries.parcel_claims_csv(rows), f"parcel-claims-{label}.csv")


# -- store credit ---------------------------------------------------------------------------
@bp.get("/credit", endpoint="credit")
@staff_required
def credit_index():
    query = (request.args.get("q") or "").strip()[:254]
    buyers = []
    if query:
        buyers = list(db.session.execute(
            select(User).where(User.email.ilike(f"%{_like(query)}%", escape="\\")).order_by(User.id).limit(50)
        ).scalars())
    return render_template("aftersales/money_credit.html", query=query, buyers=buyers,
                           compensations=compensation.recent(50))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@bp.route("/credit/<int:user_id>", methods=["GET", "POST"])
@staff_required
def credit_user(user_id: int):
    buyer = db.session.get(User, user_id)
    if buyer is None:
        abort(404)
    form = CreditAdjustForm()
    if request.method == "GET":
        form.key.data = secrets.token_hex(12)
    if form.validate_on_submit():
        try:
            credit.adjust_by_staff(current_user, buyer.id, form.amount.data, form.note.data, form.key.data)
        except ServiceError as exc:
            show_service_error(form, exc, default="amount")
        else:
            flash(_("Store credit updated."), "success")
            return redirect(url_for(".credit_user", user_id=buyer.id))
    try:
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        before = None
    entries, next_before = credit.ledger(buyer.id, before=before)
    return render_template("aftersales/money_credit_user.html", buyer=buyer, form=form, entries=entries,
                           next_before=next_before, balance=credit.balance(buyer.id),
                           currency=credit.shop_currency()), 422 if form.errors else 200

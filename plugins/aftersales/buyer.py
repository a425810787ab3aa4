"""Buyer pages: "Refunds & returns", the request form, the case page (timeline,
thread, cancel, return parcel, photos) and the photos themselves."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from storefront.context_objects import user_object
from storefront.errors import NotFound, ServiceError
from storefront.extensions import db, limiter
from storefront.forms import show_service_error
from storefront.i18n import gettext as _
from storefront.money import MoneyError, parse_money
from storefront.settings import get_setting

from . import cases
from .forms import EmptyForm, EvidenceForm, MessageForm, RequestForm, TrackingForm
from .models import REASONS, CaseMessage, Evidence
from .render import KIND_LABELS, REASON_LABELS, labels
from .services import case_for_buyer, events_of
from .uploads import evidence_path

bp = Blueprint("aftersales", __name__, url_prefix="/account/refunds", template_folder="templates")

WRITE_LIMIT = "20/minute"


def _me():
    return user_object()


def _case_or_404(number: str):
    try:
        return case_for_buyer(number, _me())
    except NotFound:
        abort(404)


@bp.get("/")
@login_required
def index():
    after = request.args.get("after", type=int)
    rows, next_after = cases.buyer_cases(_me(), after_id=after)
    next_url = url_for(".index", after=next_after) if next_after else None
    return render_template("aftersales/index.html", cases=rows, next_url=next_url, older_page=bool(after),
                           **labels())


def _quantities(order) -> dict[int, int]:
    out = {}
    for line in order.lines:
        raw = (request.form.get(f"qty_{line.id}") or "0").strip()
        out[line.id] = int(raw) if raw.isdigit() else -1
    return out


@bp.route("/new/<int:order_id>", methods=["GET", "POST"])
@login_required
@limiter.limit(WRITE_LIMIT, methods=["POST"])
def new(order_id: int):
    try:
        order = cases.buyer_order(order_id, _me())
    except NotFound:
        abort(404)
    kinds = cases.kinds_for(order)
    form = RequestForm()
    form.kind.choices = [SelectChoice(k, KIND_LABELS[k]) for k in kinds]
    form.reason.choices = [SelectChoice(r, REASON_LABELS[r]) for r in REASONS]
    if form.validate_on_submit():
        data = {"kind": form.kind.data, "reason": form.reason.data, "description": form.description.data,
                "lines": _quantities(order)}
        try:
            if (form.amount.data or "").strip():
                data["amount"] = parse_money(form.amount.data.strip(), order.currency).amount
            case = cases.create_case(order, _me(), data, files=request.files.getlist("evidence"))
        except MoneyError:
            form.amount.errors = list(form.amount.errors) + [_("Enter an amount like 12.50.")]
        except ServiceError as exc:
            if not show_service_error(form, exc):
                flash(exc.message, "error")
        else:
            flash(_("Your request was sent."), "success")
            return redirect(url_for(".case_page", number=case.number))
    status = 400 if request.method == "POST" else 200
    return render_template("aftersales/new.html", order=order, form=form, kinds=kinds,
                           choices=cases.line_choices(order), posted=request.form, **labels()), status


@bp.get("/<number>")
@login_required
def case_page(number: str):
    case = _case_or_404(number)
    return _render_case(case)


def _render_case(case, status: int = 200, message_form=None, tracking_form=None, evidence_form=None):
    tracking_form = tracking_form or TrackingForm()
    tracking_form.carrier.choices = [SelectChoice(c, c) for c in get_setting("carriers") or []]
    messages = list(db.session.execute(select(CaseMessage).where(CaseMessage.case_id == case.id)
                                       .order_by(CaseMessage.id)).scalars())
    evidence = list(db.session.execute(select(Evidence).where(Evidence.case_id == case.id)
                                       .order_by(Evidence.id)).scalars())
    return render_template("aftersales/case.html", case=case, order=case.order, events=events_of(case),
                           messages=messages, evidence=evidence, message_form=message_form or MessageForm(),
                           tracking_form=tracking_form, evidence_form=evidence_form or EvidenceForm(),
                           action_form=EmptyForm(), **labels()), status


@bp.post("/<number>/cancel")
@login_required
@limiter.limit(WRITE_LIMIT)
def cancel(number: str):
    case = _case_or_404(number)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        cases.cancel_case(case, _me())
    except ServiceError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Your request was cancelled."), "success")
    return redirect(url_for(".case_page", number=number))


@bp.post("/<number>/message")
@login_required
@limiter.limit(WRITE_LIMIT)
def message(number: str):
    case = _case_or_404(number)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            cases.post_message(case, _me(), form.body.data)
        except ServiceError as exc:
            show_service_error(form, exc, default="body")
        else:
            return redirect(url_for(".case_page", number=number))
    return _render_case(case, 400, message_form=form)


@bp.post("/<number>/tracking")
@login_required
@limiter.limit(WRITE_LIMIT)
def tracking(number: str):
    case = _case_or_404(number)
    form = TrackingForm()
    form.carrier.choices = [SelectChoice(c, c) for c in get_setting("carriers") or []]
    if form.validate_on_submit():
        try:
            cases.enter_return_tracking(case, _me(), form.carrier.data, form.tracking_number.data)
        except ServiceError as exc:
            if not show_service_error(form, exc, default="tracking_number"):
                flash(exc.message, "error")
        else:
            flash(_("Thank you: we will let you know when the parcel arrives."), "success")
            return redirect(url_for(".case_page", number=number))
    return _render_case(case, 400, tracking_form=form)


@bp.post("/<number>/evidence")
@login_required
@limiter.limit(WRITE_LIMIT)
def add_evidence(number: str):
    case = _case_or_404(number)
    form = EvidenceForm()
    if form.validate_on_submit():
        try:
            cases.add_evidence(case, _me(), request.files.getlist("evidence"))
        except ServiceError as exc:
            show_service_error(form, exc, default="evidence")
        else:
            flash(_("Photos added."), "success")
            return redirect(url_for(".case_page", number=number))
    return _render_case(case, 400, evidence_form=form)


@bp.get("/<number>/evidence/<int:evidence_id>")
@login_required
def evidence_file(number: str, evidence_id: int):
    case = _case_or_404(number)
    return send_evidence(case, evidence_id)


def send_evidence(case, evidence_id: int):
    """The stored photo (re-encoded by us), never cached by shared caches, never sniffed."""
    row = db.session.get(Evidence, evidence_id)
    if row is None or row.case_id != case.id:
        abort(404)
    path = evidence_path(row.stored_name)
    if path is None:
        abort(404)
    try:
        response = send_file(path, mimetype=row.content_type, max_age=0, conditional=True)
    except FileNotFoundError:
        abort(404)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response

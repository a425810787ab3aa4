"""Staff pages: the after-sales queue and the case page with its actions."""
from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from storefront.accounts.models import Role, User
from storefront.admin.access import staff_required
from storefront.errors import NotFound, ServiceError, ValidationFailed
from storefront.extensions import db
from storefront.forms import show_service_error
from storefront.i18n import gettext as _
from storefront.money import MoneyError, parse_money
from storefront.settings import get_setting

from . import actions, cases
from .forms import (ApproveForm, ArriveForm, AssignForm, EmptyForm, InspectForm, MessageForm, NoteForm,
                    RefundForm, RejectForm, ReshipForm)
from .models import CATEGORIES, KINDS, REASONS, STATUSES, CaseMessage, Evidence
from .queue import QueueFilters, overdue_ids, response_due_at, staff_queue
from .render import CATEGORY_LABELS, labels
from .services import events_of, get_case_by_number, settings

bp = Blueprint("aftersales_admin", __name__, url_prefix="/admin/aftersales", template_folder="templates")


def _me():
    return current_user._get_current_object()


def _case_or_404(number: str):
    try:
        return get_case_by_number(number)
    except NotFound:
        abort(404)


STAFF_CACHE_SECONDS = 60
STAFF_CACHE_KEY = "aftersales_staff_cache"


def _staff() -> list[tuple[str, str]]:
    """(id, name) of every staff member, kept a minute per process.

    ``users.role`` has no index and nearly every user is a buyer (125 k at
    1,000,000 orders): the scan cost 40-100 ms per queue view. A stale list
    only offers a former staff member in the dropdown a little longer;
    ``actions.assign`` checks the role again."""
    ttl = min(STAFF_CACHE_SECONDS, int(current_app.config.get("STOREFRONT_DASHBOARD_CACHE_SECONDS", 0) or 0))
    now = time.monotonic()
    cached = current_app.extensions.get(STAFF_CACHE_KEY)  # per app: tests run several in one process
    if ttl > 0 and cached is not None and cached[0] > now:
        return cached[1]
    rows = db.session.execute(select(User.id, User.name, User.email).where(User.role.in_((Role.STAFF, Role.OWNER)))
                              .order_by(User.email)).all()
    staff = [(str(uid), name or email) for uid, name, email in rows]
    if ttl > 0:
        current_app.extensions[STAFF_CACHE_KEY] = (now + ttl, staff)
    return staff


def _staff_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("Nobody"))] + [SelectChoice(uid, name) for uid, name in _staff()]


@bp.get("/")
@staff_required
def queue():
    try:
        filters = QueueFilters.from_args(request.args)
    except ValidationFailed:
        filters = QueueFilters()
        flash(_("Unknown filter value."), "error")
    rows, has_next = staff_queue(filters)
    args = {k: v for k, v in request.args.items() if k not in ("page", "after")}
    next_url = url_for(".queue", **args, after=rows[-1].id) if has_next else None
    # Keyset pages only go forward, like the core order list; old ?page= links still step back.
    prev_url = url_for(".queue", **args, page=filters.page - 1) if filters.page > 1 and not filters.after else None
    staff = _staff()
    return render_template("aftersales/admin_queue.html", cases=rows, filters=filters, overdue=overdue_ids(rows),
                           staff=staff, staff_names=dict(staff), kinds=KINDS, statuses=STATUSES, reasons=REASONS,
                           categories=CATEGORIES, next_url=next_url, prev_url=prev_url, **labels())


def _forms(**given):
    carriers = [SelectChoice(c, c) for c in get_setting("carriers") or []]
    forms = {"approve_form": ApproveForm(prefix="approve"), "reject_form": RejectForm(prefix="reject"),
             "arrive_form": ArriveForm(prefix="arrive"), "inspect_form": InspectForm(prefix="inspect"),
             "refund_form": RefundForm(prefix="refund"),
             "reship_form": ReshipForm(prefix="reship"), "assign_form": AssignForm(prefix="assign"),
             "note_form": NoteForm(prefix="note"), "message_form": MessageForm(prefix="message"),
             "action_form": EmptyForm()}
    forms.update(given)
    forms["reship_form"].carrier.choices = carriers
    forms["assign_form"].assignee_id.choices = _staff_choices()
    forms["assign_form"].category.choices = [SelectChoice(c, CATEGORY_LABELS[c]) for c in CATEGORIES]
    return forms


def _render(case, status: int = 200, **given):
    forms = _forms(**given)
    if request.method == "GET":
        forms["approve_form"].return_address.data = case.return_address or settings().get("return_address") or ""
        forms["refund_form"].amount.data = ""
        forms["assign_form"].assignee_id.data = str(case.assignee_id or "")
        forms["assign_form"].category.data = case.category
    messages = list(db.session.execute(select(CaseMessage).where(CaseMessage.case_id == case.id)
                                       .order_by(CaseMessage.id)).scalars())
    evidence = list(db.session.execute(select(Evidence).where(Evidence.case_id == case.id)
                                       .order_by(Evidence.id)).scalars())
    can_decide = not case.escalated or _me().is_owner
    return render_template("aftersales/admin_case.html", case=case, order=case.order, events=events_of(case),
                           messages=messages, evidence=evidence, can_decide=can_decide,
                           refundable=actions.refundable_from(case), response_due=response_due_at(case),
                           overdue=bool(overdue_ids([case])), **forms, **labels()), status


@bp.get("/<number>")
@staff_required
def case_page(number: str):
    return _render(_case_or_404(number))


def _act(number: str, form_key: str, form, run, done: str, default_field: str | None = None):
    """Validate ``form``, run the service, and either redirect or show the errors next to the fields."""
    case = _case_or_404(number)
    if form.validate_on_submit():
        try:
            run(case, form)
        except ServiceError as exc:
            if exc.status == 403:
                abort(403)
            if not show_service_error(form, exc, default=default_field):
                flash(exc.message, "error")
        else:
            flash(done, "success")
            return redirect(url_for(".case_page", number=number), 303)
    return _render(case, 400, **{form_key: form})


@bp.post("/<number>/approve")
@staff_required
def approve(number: str):
    return _act(number, "approve_form", ApproveForm(prefix="approve"),
                lambda case, f: actions.approve(case, _me(), return_address=f.return_address.data,
                                                method=f.method.data),
                _("Request approved."), "return_address")


@bp.post("/<number>/reject")
@staff_required
def reject(number: str):
    return _act(number, "reject_form", RejectForm(prefix="reject"),
                lambda case, f: actions.reject(case, _me(), f.reason.data), _("Request declined."), "reason")


@bp.post("/<number>/arrive")
@staff_required
def arrive(number: str):
    return _act(number, "arrive_form", ArriveForm(prefix="arrive"),
                lambda case, f: actions.arrive(case, _me(), f.note.data), _("Return parcel marked arrived."), "note")


@bp.post("/<number>/inspect")
@staff_required
def inspect(number: str):
    return _act(number, "inspect_form", InspectForm(prefix="inspect"),
                lambda case, f: actions.inspect(case, _me(), f.inspection_result.data, f.note.data),
                _("Inspection recorded."), "inspection_result")


def _refund(case, form):
    text = (form.amount.data or "").strip()
    amount = None
    if text:
        try:
            amount = parse_money(text, case.currency).amount
        except MoneyError:
            raise ValidationFailed(_("Enter an amount like 12.50."), field="amount") from None
    actions.refund(case, _me(), amount, method=form.method.data)


@bp.post("/<number>/refund")
@staff_required
def refund(number: str):
    return _act(number, "refund_form", RefundForm(prefix="refund"), _refund, _("Refund made."), "amount")


@bp.post("/<number>/reship")
@staff_required
def reship(number: str):
    form = ReshipForm(prefix="reship")
    form.carrier.choices = [SelectChoice(c, c) for c in get_setting("carriers") or []]
    return _act(number, "reship_form", form,
                lambda case, f: actions.reship(case, _me(), f.carrier.data, f.tracking_number.data),
                _("Replacement shipped."), "tracking_number")


@bp.post("/<number>/assign")
@staff_required
def assign(number: str):
    form = AssignForm(prefix="assign")
    return _act(number, "assign_form", form,
                lambda case, f: actions.assign(case, _me(), f.assignee_id.data or None, f.category.data or None),
                _("Saved."), "assignee_id")


@bp.post("/<number>/note")
@staff_required
def note(number: str):
    return _act(number, "note_form", NoteForm(prefix="note"),
                lambda case, f: actions.add_note(case, _me(), f.body.data), _("Note added."), "body")


@bp.post("/<number>/message")
@staff_required
def message(number: str):
    return _act(number, "message_form", MessageForm(prefix="message"),
                lambda case, f: cases.post_message(case, _me(), f.body.data), _("Message sent."), "body")


@bp.post("/<number>/extend")
@staff_required
def extend(number: str):
    return _act(number, "action_form", EmptyForm(),
                lambda case, f: actions.extend_auto_confirm(case, _me()), _("Auto-confirm extended."))


@bp.get("/<number>/evidence/<int:evidence_id>")
@staff_required
def evidence_file(number: str, evidence_id: int):
    from .buyer import send_evidence

    return send_evidence(_case_or_404(number), evidence_id)

"""Buyer order pages: list, detail, cancel, confirm receipt, notes (/orders)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required

from ..checkout.pricing import order_breakdown
from ..context_objects import user_object
from ..errors import ServiceError
from ..i18n import gettext as _
from . import services
from .display import close_reason_label, describe_event, status_label
from .forms import ActionForm, BuyerNoteForm
from .queries import buyer_notes, public_events
from .status import OPEN_STATUSES, STATUS_LABELS, OrderStatus

bp = Blueprint("orders", __name__)

TABS = [None, OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED,
        OrderStatus.CLOSED]


@bp.before_request
def _private():
    # Order pages show addresses and phone numbers: never cache them.
    g.no_store = True


@bp.get("/")
@login_required
def list_orders():
    status = request.args.get("status") or None
    if status not in {s.value for s in OrderStatus}:
        status = None
    orders, next_after = services.buyer_orders(user_object(), status=status,
                                               after_id=request.args.get("after", type=int), limit=20)
    next_url = url_for(".list_orders", status=status, after=next_after) if next_after else None
    return render_template("orders/list.html", orders=orders, status=status, tabs=TABS,
                           labels=STATUS_LABELS, next_url=next_url)


def _may_confirm(order) -> bool:
    """Shipped, and no plugin would veto completing it (a pickup completes at the
    counter, an open after-sales request pauses it): never offer a button that can only fail."""
    if OrderStatus(order.status) != OrderStatus.SHIPPED:
        return False
    from ..plugins.host import flatten, get_host
    from .transitions import Actor

    vetoes = get_host().hook.transition_guard(obj=order, to=OrderStatus.COMPLETED, actor=Actor.of(user_object()))
    return not list(flatten(vetoes))


def _render_detail(order, note_form=None, status_code=200):
    return render_template(
        "orders/detail.html", order=order, breakdown=order_breakdown(order),
        events=public_events(order), notes=buyer_notes(order), note_form=note_form or BuyerNoteForm(),
        action_form=ActionForm(), describe_event=describe_event, status_label=status_label,
        close_reason_label=close_reason_label,
        can_cancel=OrderStatus(order.status) in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
        can_confirm=_may_confirm(order),
        is_open=OrderStatus(order.status) in OPEN_STATUSES,
    ), status_code


@bp.get("/<number>")
@login_required
def detail(number):
    return _render_detail(services.get_buyer_order(user_object(), number))


def _act(number, action, done_message):
    order = services.get_buyer_order(user_object(), number)
    if ActionForm().validate_on_submit():
        try:
            action(order)
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash(done_message, "success")
    return redirect(url_for(".detail", number=order.number), 303)


@bp.post("/<number>/cancel")
@login_required
def cancel(number):
    return _act(number, lambda o: services.cancel_by_buyer(o, user_object()), _("Your order was cancelled."))


@bp.post("/<number>/confirm")
@login_required
def confirm(number):
    return _act(number, lambda o: services.confirm_receipt(o, user_object()),
                _("Thank you! The order is complete."))


@bp.post("/<number>/notes")
@login_required
def add_note(number):
    order = services.get_buyer_order(user_object(), number)
    form = BuyerNoteForm()
    if form.validate_on_submit():
        try:
            services.add_note(order, user_object(), form.body.data, is_staff=False)
        except ServiceError as exc:
            form.body.errors = [*form.body.errors, exc.message]
        else:
            flash(_("Your note was added."), "success")
            return redirect(url_for(".detail", number=order.number), 303)
    order = services.get_buyer_order(user_object(), number)
    return _render_detail(order, note_form=form, status_code=422)

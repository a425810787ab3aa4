"""The buyer's balance payment and the cancellation of a deposit-paid order
(POSTs from the order page's presale panel).

Registered from the ``configure`` hook, not the manifest, so it stays up
while the plugin is disabled: deposit orders already placed keep their
balance window (the route only serves orders that have a presale record).
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, url_for
from flask_login import login_required
from wtforms import BooleanField, HiddenField
from wtforms.validators import InputRequired, Length

from storefront.context_objects import user_object
from storefront.errors import ServiceError
from storefront.forms import FlaskForm
from storefront.i18n import gettext as _
from storefront.orders.queries import get_buyer_order
from storefront.payments.services import start_payment

from .cancel import cancel_deposit_order
from .services import start_balance

bp = Blueprint("presale_buyer", __name__, template_folder="templates")


class BalanceForm(FlaskForm):
    idempotency_key = HiddenField(validators=[InputRequired(), Length(min=8, max=80)])


class CancelDepositForm(FlaskForm):
    """The buyer ticks that they read what happens to the deposit (shown right above)."""

    confirm = BooleanField()


@bp.before_request
def _private():
    g.no_store = True


@bp.post("/orders/<number>/balance")
@login_required
def pay_balance(number):
    order = get_buyer_order(user_object(), number)  # another buyer's order: 404
    form = BalanceForm()
    back = redirect(url_for("orders.detail", number=order.number), 303)
    if not form.validate_on_submit():
        flash(_("This form expired; reload the page and try again."), "error")
        return back
    try:
        payment = start_balance(order, user_object(), form.idempotency_key.data)
    except ServiceError as exc:
        flash(exc.message, "error")
        return back
    return redirect(start_payment(payment), 303)


@bp.post("/orders/<number>/cancel")
@login_required
def cancel_deposit(number):
    order = get_buyer_order(user_object(), number)  # another buyer's order: 404
    form = CancelDepositForm()
    back = redirect(url_for("orders.detail", number=order.number), 303)
    if not form.validate_on_submit():
        flash(_("This form expired; reload the page and try again."), "error")
        return back
    try:
        terms = cancel_deposit_order(order, user_object(), bool(form.confirm.data))
    except ServiceError as exc:
        flash(exc.message, "error")
        return back
    flash(_("Your order was cancelled; the deposit was kept as the presale terms say.") if terms.kept
          else _("Your order was cancelled; the deposit will be refunded."), "success")
    return back

"""Payment pages: the test provider's simulated pay page and its callback."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required

from ..context_objects import user_object
from ..errors import ServiceError
from ..i18n import gettext as _
from ..orders.transitions import Actor
from . import services
from .models import PaymentStatus
from .providers import TestProvider

bp = Blueprint("payments", __name__)


@bp.get("/<reference>")
@login_required
def pay_page(reference: str):
    payment = services.payment_for_buyer(user_object(), reference)
    g.no_store = True
    return render_template("payments/pay.html", payment=payment, orders=list(payment.orders),
                           provider_ref=TestProvider.provider_ref_for(payment),
                           is_test=payment.provider == TestProvider.name, pending=payment.status == PaymentStatus.PENDING)


@bp.post("/test/callback")
@login_required
def test_callback():
    result = TestProvider().parse_callback(request.form)
    # The simulated provider answers only to the payment's owner.
    payment = services.payment_for_buyer(user_object(), result.payment_reference)
    if payment.provider != TestProvider.name:
        flash(_("That payment method is not available."), "error")
        return redirect(url_for("payments.pay_page", reference=payment.reference))
    try:
        if result.succeeded:
            services.confirm_payment(result.provider_ref, result.amount, payment_reference=payment.reference,
                                     provider_name=TestProvider.name, actor=Actor.of(user_object()))
            flash(_("Payment received. Thank you! Your order will ship soon."), "success")
        else:
            services.record_failure(payment, "simulated failure")
            flash(_("The payment failed. You can try again before the order closes."), "error")
    except ServiceError as exc:
        flash(exc.message, "error")
    return redirect(url_for("payments.pay_page", reference=payment.reference))

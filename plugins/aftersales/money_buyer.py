"""Buyer pages of the money side: "Store credit" (balance, history, use at checkout)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required

from storefront.context_objects import user_object
from storefront.i18n import gettext as _

from . import credit
from .money_forms import CreditPreferenceForm

bp = Blueprint("aftersales_money", __name__, url_prefix="/account/store-credit",
               template_folder="templates")


@bp.get("/")
@login_required
def index():
    g.no_store = True
    try:
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        before = None
    entries, next_before = credit.ledger(user_object().id, before=before)
    form = CreditPreferenceForm(use_at_checkout=credit.uses_credit_at_checkout(user_object().id))
    return render_template("aftersales/money_credit_buyer.html", entries=entries, next_before=next_before,
                           balance=credit.balance(user_object().id), currency=credit.shop_currency(), form=form,
                           enabled_at_checkout=bool(credit._settings().get("credit_at_checkout", True)))


@bp.post("/preference")
@login_required
def preference():
    form = CreditPreferenceForm()
    if form.validate_on_submit():
        credit.set_use_at_checkout(user_object(), bool(form.use_at_checkout.data))
        flash(_("Saved."), "success")
    return redirect(url_for(".index"))

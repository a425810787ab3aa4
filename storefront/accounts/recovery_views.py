"""Registration and password reset pages (mailed links, see :mod:`.recovery`).

The request forms answer with the same redirect and the same "check your
inbox" page whether or not the address has an account. Pages behind a
mailed link check the link on every method and answer a bad, expired or
used one with a page that offers a new link (status 400), never a 500.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from ..errors import ServiceError
from ..i18n import gettext as _
from . import recovery
from .forms import (FinishRegistrationForm, ForgotPasswordForm, RegisterForm, ResetPasswordForm,
                    apply_service_error)
from .limits import (link_ip_limit, register_account_limit, register_ip_limit, reset_account_limit,
                     reset_ip_limit)
from .services import normalise_email
from .tokens import InvalidLink
from .views import _home, bp, safe_next, sign_in

# The address the last request mailed, shown on the "check your inbox" page
# so a typo can be spotted; the same for known and unknown addresses.
SENT_KEY = "mail_sent_to"


def _invalid_link(kind: str):
    again = url_for("accounts.register" if kind == "register" else "accounts.forgot_password")
    return render_template("accounts/link_invalid.html", kind=kind, again=again), 400


@bp.route("/register", methods=["GET", "POST"])
@register_ip_limit
@register_account_limit
def register():
    form = RegisterForm()
    target = safe_next((request.method == "POST" and form.next.data) or request.args.get("next"))
    if request.method == "GET":
        form.next.data = target or ""
    if form.validate_on_submit():
        try:
            email = recovery.start_registration(form.email.data, next_path=target)
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                raise
        else:
            session[SENT_KEY] = email
            return redirect(url_for("accounts.register_sent"))
    return render_template("accounts/register.html", form=form)


@bp.route("/register/sent")
def register_sent():
    return render_template("accounts/check_inbox.html", kind="register", email=session.get(SENT_KEY))


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
@link_ip_limit
def finish_registration(token: str):
    try:
        email = recovery.email_for_confirm_token(token)
    except InvalidLink:
        return _invalid_link("register")
    form = FinishRegistrationForm()
    if form.validate_on_submit():
        try:
            user = recovery.finish_registration(token, name=form.name.data, phone=form.phone.data,
                                                password=form.password.data)
        except InvalidLink:
            return _invalid_link("register")
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                raise
        else:
            sign_in(user)  # clears the session, SENT_KEY included
            flash(_("Welcome, %(name)s! Your account is ready.", name=user.name), "success")
            return redirect(safe_next(request.args.get("next")) or _home())
    return render_template("accounts/register_finish.html", form=form, email=email, token=token,
                           next=safe_next(request.args.get("next")))


@bp.route("/password/forgot", methods=["GET", "POST"])
@reset_ip_limit
@reset_account_limit
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            recovery.request_password_reset(form.email.data)
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                raise
        else:
            session[SENT_KEY] = normalise_email(form.email.data)
            return redirect(url_for("accounts.forgot_password_sent"))
    return render_template("accounts/forgot.html", form=form)


@bp.route("/password/forgot/sent")
def forgot_password_sent():
    return render_template("accounts/check_inbox.html", kind="reset", email=session.get(SENT_KEY))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@link_ip_limit
def reset_password(token: str):
    try:
        recovery.user_for_reset_token(token)
    except InvalidLink:
        return _invalid_link("reset")
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = recovery.reset_password(token, form.new_password.data)
        except InvalidLink:
            return _invalid_link("reset")
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                raise
        else:
            # A fresh session: whatever the browser held before is dropped,
            # and every other session died with the old password.
            sign_in(user)
            flash(_("Your password was changed. Other devices are signed out."), "success")
            return redirect(_home())
    return render_template("accounts/reset.html", form=form, token=token)

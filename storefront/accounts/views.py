"""Account pages: sign in/out, password, profile, addresses, messages.

Registration and password reset by mailed link live in :mod:`.recovery_views`
(same blueprint, imported at the end of this module).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, g, make_response, redirect, render_template,
                   request, session, url_for)
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import ServiceError
from ..extensions import db
from ..i18n import gettext as _
from . import services
from .forms import AddressForm, LoginForm, PasswordForm, ProfileForm, apply_service_error
from .limits import login_account_limit, login_ip_limit, mark_failed, password_limit

bp = Blueprint("accounts", __name__)


@bp.before_request
def _no_store():
    # Account pages show personal data: never keep them in a shared cache.
    g.no_store = True


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects).

    Browsers read ``/\\host`` and ``//host`` as another host and drop tabs
    and newlines inside URLs, so any of those is refused outright.
    """
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if "\\" in target or any(ord(c) < 33 or ord(c) == 127 for c in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _home() -> str:
    return url_for("catalog.home")


def _current_user():
    return current_user._get_current_object()


def sign_in(user, *, remember: bool = False) -> None:
    """Start a fresh session for ``user`` and bring the guest cart along.

    The cookie session is cleared first (nothing planted before sign-in
    survives); only the language and the guest cart token are carried over.
    """
    try:
        from ..cart import services as cart_services
    except ImportError:  # pragma: no cover - the cart domain is optional here
        cart_services = None
    cart_key = getattr(cart_services, "SESSION_KEY", "cart_token")
    kept = {key: session[key] for key in ("locale", cart_key) if key in session}
    session.clear()
    session.update(kept)
    login_user(user, remember=remember)
    merge = getattr(cart_services, "merge_guest_cart", None)
    if merge is not None:
        try:
            merge(user)
        except Exception:  # a cart problem must not lock the buyer out
            db.session.rollback()
            current_app.logger.exception("merging the guest cart failed")


# Sign in, register, sign out ----------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@login_ip_limit
@login_account_limit
def login():
    form = LoginForm()
    target = safe_next((request.method == "POST" and form.next.data) or request.args.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(target or _home())
        form.next.data = target or ""
    error = None
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.InvalidCredentials as exc:
            error = exc.message
        else:
            sign_in(user, remember=bool(form.remember.data))
            return redirect(target or _home())
    response = make_response(render_template("accounts/login.html", form=form, error=error))
    return mark_failed(response) if error else response


def _end_session() -> None:
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    # After the clear: logout_user leaves the flag that deletes the
    # remember-me cookie, which clearing the session would lose.
    logout_user()


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        services.end_browser_sessions(_current_user())
    _end_session()
    flash(_("You are signed out."), "success")
    return redirect(_home())


@bp.route("/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    services.logout_everywhere(_current_user())
    _end_session()
    flash(_("You are signed out on every device."), "success")
    return redirect(url_for("accounts.login"))


# Password and profile -----------------------------------------------------

@bp.route("/")
@login_required
def index():
    return redirect(url_for("accounts.profile"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
@password_limit
def password():
    form = PasswordForm()
    failed = False
    if form.validate_on_submit():
        user = _current_user()
        remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
        try:
            services.change_password(user, form.current_password.data, form.new_password.data)
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                raise
            failed = exc.code == "wrong_password"
        else:
            # The rotated token signed every session out, this one included:
            # sign it back in (and renew its remember-me cookie if it had one).
            login_user(user, remember=remember_cookie in request.cookies)
            flash(_("Your password was changed. Other devices are signed out."), "success")
            return redirect(url_for("accounts.password"))
    response = make_response(render_template("accounts/password.html", form=form))
    return mark_failed(response) if failed else response


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    user = _current_user()
    form = ProfileForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.locale.data = user.locale or ""
    if form.validate_on_submit():
        try:
            services.update_profile(user, name=form.name.data, phone=form.phone.data,
                                    locale=form.locale.data)
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                raise
        else:
            if user.locale:
                session["locale"] = user.locale
            else:
                session.pop("locale", None)
            flash(_("Your profile was saved."), "success")
            return redirect(url_for("accounts.profile"))
    return render_template("accounts/profile.html", form=form)


# Addresses ----------------------------------------------------------------

@bp.route("/addresses", methods=["GET", "POST"])
@login_required
def addresses():
    user = _current_user()
    form = AddressForm()
    if form.validate_on_submit():
        try:
            services.add_address(user, form.address_data(), make_default=bool(form.is_default.data))
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                flash(exc.message, "error")
        else:
            flash(_("Address added."), "success")
            return redirect(url_for("accounts.addresses"))
    return render_template("accounts/addresses.html", form=form,
                           addresses=services.list_addresses(user))


@bp.route("/addresses/<int:address_id>/edit", methods=["GET", "POST"])
@login_required
def edit_address(address_id: int):
    user = _current_user()
    address = services.get_address(user, address_id)
    form = AddressForm(obj=address if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            services.update_address(user, address_id, form.address_data(),
                                    make_default=bool(form.is_default.data))
        except ServiceError as exc:
            if not apply_service_error(form, exc):
                raise
        else:
            flash(_("Address saved."), "success")
            return redirect(url_for("accounts.addresses"))
    return render_template("accounts/address_edit.html", form=form, address=address)


@bp.route("/addresses/<int:address_id>/delete", methods=["POST"])
@login_required
def delete_address(address_id: int):
    services.delete_address(_current_user(), address_id)
    flash(_("Address deleted."), "success")
    return redirect(url_for("accounts.addresses"))


@bp.route("/addresses/<int:address_id>/default", methods=["POST"])
@login_required
def default_address(address_id: int):
    services.set_default(_current_user(), address_id)
    flash(_("Default address changed."), "success")
    return redirect(url_for("accounts.addresses"))


# Message centre -----------------------------------------------------------

def _after_param() -> int | None:
    value = request.values.get("after", "")
    return int(value) if value.isdigit() else None


@bp.route("/messages")
@login_required
def messages():
    user = _current_user()
    after = _after_param()
    rows, next_after = services.messages_page(user, after=after)
    next_url = url_for("accounts.messages", after=next_after) if next_after else None
    return render_template("accounts/messages.html", messages=rows, next_url=next_url, after=after,
                           unread=services.unread_messages(user),
                           order_numbers=services.order_numbers(user, rows))


@bp.route("/messages/read", methods=["POST"])
@login_required
def mark_read():
    ids = [int(v) for v in request.form.getlist("message_id") if v.isdigit()]
    if ids or request.form.get("all"):
        services.mark_messages_read(_current_user(), ids or None)
    after = _after_param()
    return redirect(url_for("accounts.messages", after=after) if after else url_for("accounts.messages"))


# Registration and password reset add their routes to ``bp``.
from . import recovery_views  # noqa: E402,F401

"""Staff pages: list with statistics, create, edit, pause, duplicate, generate codes, CSV export."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from storefront.admin.access import staff_required
from storefront.errors import NotFound, ValidationFailed
from storefront.forms import FlaskForm, show_service_error
from storefront.i18n import format_money, gettext as _
from storefront.jobs.progress import runner, start_job
from storefront.money import MoneyError, parse_money

from . import admin_services as svc
from .forms import CouponForm, GenerateForm
from .rules import describe
from storefront.clock import local_to_utc, utc_to_local

bp = Blueprint("coupons_admin", __name__, url_prefix="/admin/coupons", template_folder="templates")
MONEY_FIELDS = ("max_discount", "amount", "step", "min_spend")


def _coupon_or_404(coupon_id: int):
    try:
        return svc.get_coupon(coupon_id)
    except NotFound:
        abort(404)


def _money(form, name) -> int:
    raw = (form[name].data or "").strip()
    if not raw:
        return 0
    try:
        return parse_money(raw, current_app.config["STOREFRONT_CURRENCY"]).amount
    except (MoneyError, ValueError):
        raise ValidationFailed(_("Enter an amount, e.g. 19.90."), field=name) from None


def _form_data(form: CouponForm) -> dict:
    data = {name: form[name].data for name in ("name", "kind", "code", "exclude_presale", "exclude_discounted",
                                               "starts_at", "ends_at", "total_quantity", "per_buyer_limit",
                                               "claimable", "claim_quota", "single_use_codes", "active")}
    # The form shows the shop's wall clock; the database keeps naive UTC.
    data["starts_at"] = local_to_utc(form.starts_at.data)
    data["ends_at"] = local_to_utc(form.ends_at.data)
    for name in MONEY_FIELDS:
        data[name] = _money(form, name)
    try:
        data["percent_bp"] = int(Decimal((form.percent.data or "0").strip()) * 100)
    except InvalidOperation:
        raise ValidationFailed(_("Enter a percentage, e.g. 10."), field="percent") from None
    data["tiers"] = svc.parse_tiers(form.tiers.data or "")
    raw_ids = [p.strip() for p in (form.product_ids.data or "").split(",") if p.strip()]
    if not all(p.isdigit() for p in raw_ids):
        raise ValidationFailed(_("Product ids are numbers."), field="product_ids")
    data["product_ids"] = [int(p) for p in raw_ids]
    return data


def _fill(form: CouponForm, coupon) -> None:
    for name in ("name", "kind", "code", "exclude_presale", "exclude_discounted", "starts_at", "ends_at",
                 "total_quantity", "per_buyer_limit", "claimable", "claim_quota", "single_use_codes", "active"):
        form[name].data = getattr(coupon, name)
    form.starts_at.data = utc_to_local(coupon.starts_at)
    form.ends_at.data = utc_to_local(coupon.ends_at)
    for name in MONEY_FIELDS:
        value = getattr(coupon, name)
        form[name].data = f"{value / 100:.2f}" if value else ""
    form.percent.data = f"{coupon.percent_bp / 100:g}" if coupon.percent_bp else ""
    form.tiers.data = ", ".join(f"{t / 100:g}:{o / 100:g}" for t, o in coupon.tiers or [])
    form.product_ids.data = ", ".join(str(p) for p in coupon.product_ids or [])


def _show_error(form, exc: ValidationFailed) -> None:
    show_service_error(form, exc, default="name", aliases={"percent_bp": "percent"})


@bp.get("/")
@staff_required
def index():
    try:
        after = int(request.args.get("after", "")) or None
    except ValueError:
        after = None
    coupons = svc.list_coupons(after=after)
    return render_template("coupons/admin_list.html", coupons=coupons, stats=svc.stats([c.id for c in coupons]),
                           describe=describe, action=FlaskForm(), money=format_money,
                           next_after=coupons[-1].id if len(coupons) == 50 else None)


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def create():
    form = CouponForm()
    if form.validate_on_submit():
        try:
            coupon = svc.create_coupon(_form_data(form), actor=current_user._get_current_object())
        except ValidationFailed as exc:
            _show_error(form, exc)
        else:
            flash(_("Coupon saved."), "success")
            return redirect(url_for(".detail", coupon_id=coupon.id))
    return render_template("coupons/admin_form.html", form=form, coupon=None), 422 if form.errors else 200


@bp.route("/<int:coupon_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(coupon_id: int):
    coupon = _coupon_or_404(coupon_id)
    form = CouponForm()
    if request.method == "GET":
        _fill(form, coupon)
    elif form.validate_on_submit():
        try:
            svc.update_coupon(coupon_id, _form_data(form), actor=current_user._get_current_object())
        except ValidationFailed as exc:
            _show_error(form, exc)
        else:
            flash(_("Coupon saved."), "success")
            return redirect(url_for(".detail", coupon_id=coupon_id))
    return render_template("coupons/admin_form.html", form=form, coupon=coupon), 422 if form.errors else 200


@bp.get("/<int:coupon_id>")
@staff_required
def detail(coupon_id: int):
    coupon = _coupon_or_404(coupon_id)
    return render_template("coupons/admin_detail.html", coupon=coupon, stats=svc.stats([coupon.id])[coupon.id],
                           describe=describe, action=FlaskForm(), generate=GenerateForm(), money=format_money)


@bp.post("/<int:coupon_id>/active")
@staff_required
def toggle(coupon_id: int):
    _coupon_or_404(coupon_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    coupon = svc.set_active(coupon_id, request.form.get("active") == "1",
                            actor=current_user._get_current_object())
    flash(_("Coupon activated.") if coupon.active else _("Coupon paused."), "success")
    return redirect(url_for(".detail", coupon_id=coupon_id))


@bp.post("/<int:coupon_id>/duplicate")
@staff_required
def duplicate(coupon_id: int):
    _coupon_or_404(coupon_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    copy = svc.duplicate_coupon(coupon_id, actor=current_user._get_current_object())
    flash(_("Copy saved (paused)."), "success")
    return redirect(url_for(".edit", coupon_id=copy.id))


GENERATE_CHUNK = 500  # codes per transaction between two progress reports


def _describe_generation(summary: dict) -> str:
    return _("%(n)s codes generated.", n=summary.get("generated", 0))


@runner("coupons.generate_codes", describe=_describe_generation)
def _generate_in_chunks(progress, *, coupon_id: int, count: int, actor_id: int | None) -> dict:
    """The background job behind "Generate codes": chunks of :data:`GENERATE_CHUNK`,
    each committed and audited on its own, with a progress report after each."""
    from storefront.accounts.models import User
    from storefront.extensions import db

    actor = db.session.get(User, actor_id) if actor_id else None
    left = int(count)
    while left > 0:
        made = svc.generate_codes(coupon_id, min(left, GENERATE_CHUNK), actor=actor)
        left -= len(made)
        progress.advance(len(made), generated=len(made))
    return {}


@bp.post("/<int:coupon_id>/codes")
@staff_required
def generate(coupon_id: int):
    """Check the request here (errors next to the field), generate in a background
    job and show its progress page, which ends with the codes CSV to download."""
    coupon = _coupon_or_404(coupon_id)
    form = GenerateForm()
    if form.validate_on_submit():
        if not coupon.single_use_codes:
            # The detail page shows the code form only for single-use coupons: say it in a flash too.
            message = _("Turn on single-use codes for this coupon first.")
            form.count.errors = list(form.count.errors) + [message]
            flash(message, "error")
        else:
            job_id = start_job(
                "coupons.generate_codes", title=_("Generate codes: %(name)s", name=coupon.name),
                owner_id=current_user.id, total=form.count.data,
                args={"coupon_id": coupon_id, "count": form.count.data, "actor_id": current_user.id},
                links=[{"label": _("Download the codes (CSV)"), "url": url_for(".export_codes", coupon_id=coupon_id)}],
                back_url=url_for(".detail", coupon_id=coupon_id))
            return redirect(url_for("admin.job", job_id=job_id))
    return render_template("coupons/admin_detail.html", coupon=coupon, stats=svc.stats([coupon.id])[coupon.id],
                           describe=describe, action=FlaskForm(), generate=form, money=format_money), 422


@bp.get("/<int:coupon_id>/codes.csv")
@staff_required
def export_codes(coupon_id: int):
    _coupon_or_404(coupon_id)
    return Response(svc.codes_csv(coupon_id), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=coupon-{coupon_id}-codes.csv"})

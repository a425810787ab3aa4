"""Staff pages: list with statistics, create, edit, pause/activate, delete, preview."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from storefront.admin.access import staff_required
from storefront.errors import NotFound, ValidationFailed
from storefront.forms import show_service_error

from . import services
from .forms import PopupForm
from .render import preview_css_url, render_popup
from .targeting import Snapshot
from .times import local_to_utc, utc_to_local

bp = Blueprint("promo_popups_admin", __name__, url_prefix="/admin/popups", template_folder="templates")


def _popup_or_404(popup_id: int):
    try:
        return services.get_popup(popup_id)
    except NotFound:
        abort(404)


def _form_data(form: PopupForm) -> dict:
    data = {name: form[name].data for name in services.FIELDS if name in form}
    data["starts_at"] = local_to_utc(form.starts_at.data)
    data["ends_at"] = local_to_utc(form.ends_at.data)
    return data


def _show_errors(form: PopupForm, exc: ValidationFailed) -> None:
    show_service_error(form, exc, default="title")


@bp.get("/")
@staff_required
def index():
    popups = services.list_popups()
    stats = services.stats([p.id for p in popups]) if popups else {}
    return render_template("promo_popups/admin_list.html", popups=popups, stats=stats,
                           local=utc_to_local)


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def create():
    form = PopupForm()
    if form.validate_on_submit():
        try:
            popup = services.create_popup(_form_data(form))
        except ValidationFailed as exc:
            _show_errors(form, exc)
        else:
            flash(_("Popup saved."), "success")
            return redirect(url_for(".preview", popup_id=popup.id))
    return render_template("promo_popups/admin_form.html", form=form, popup=None), 422 if form.errors else 200


@bp.route("/<int:popup_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(popup_id: int):
    popup = _popup_or_404(popup_id)
    form = PopupForm(obj=popup) if request.method == "GET" else PopupForm()
    if request.method == "GET":
        form.pages.data = popup.page_list
        form.starts_at.data = utc_to_local(popup.starts_at)
        form.ends_at.data = utc_to_local(popup.ends_at)
    if form.validate_on_submit():
        try:
            services.update_popup(popup_id, _form_data(form))
        except ValidationFailed as exc:
            _show_errors(form, exc)
        else:
            flash(_("Popup saved."), "success")
            return redirect(url_for(".preview", popup_id=popup_id))
    return render_template("promo_popups/admin_form.html", form=form, popup=popup), 422 if form.errors else 200


@bp.post("/<int:popup_id>/active")
@staff_required
def toggle(popup_id: int):
    _popup_or_404(popup_id)
    popup = services.set_active(popup_id, request.form.get("active") == "1")
    flash(_("Popup activated.") if popup.active else _("Popup paused."), "success")
    return redirect(url_for(".index"))


@bp.post("/<int:popup_id>/delete")
@staff_required
def delete(popup_id: int):
    _popup_or_404(popup_id)
    services.delete_popup(popup_id)
    flash(_("Popup deleted."), "success")
    return redirect(url_for(".index"))


@bp.get("/<int:popup_id>/preview")
@staff_required
def preview(popup_id: int):
    popup = _popup_or_404(popup_id)
    variant = "b" if request.args.get("variant") == "b" and popup.b_enabled else "a"
    snap = Snapshot.of(popup)
    frames = [("desktop", _("Desktop"), render_popup(snap, variant, preview=True, uid="-desktop")),
              ("phone", _("Phone"), render_popup(snap, variant, preview=True, uid="-phone"))]
    return render_template("promo_popups/admin_preview.html", popup=popup, variant=variant, frames=frames,
                           css_url=preview_css_url(), local=utc_to_local)

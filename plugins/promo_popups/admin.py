"""Staff pages: list with statistics, create, edit, pause/activate, delete, preview."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from storefront.admin.access import staff_required
from storefront.catalog.images import store_upload
from storefront.errors import NotFound, ValidationFailed
from storefront.forms import show_service_error
from storefront.i18n import gettext as _

from . import services
from .forms import PopupForm
from .models import Popup
from .render import preview_css_url, render_popup
from .sanitize import safe_image_url
from .targeting import Snapshot
from storefront.clock import local_to_utc, utc_to_local

bp = Blueprint("promo_popups_admin", __name__, url_prefix="/admin/popups", template_folder="templates")


def _popup_or_404(popup_id: int):
    try:
        return services.get_popup(popup_id)
    except NotFound:
        abort(404)


def _form_data(form: PopupForm, popup=None, *, store: bool = True) -> dict:
    data = {name: form[name].data for name in services.FIELDS if name in form}
    data["starts_at"] = local_to_utc(form.starts_at.data)
    data["ends_at"] = local_to_utc(form.ends_at.data)
    data["image_url"] = "" if form.image_remove.data or popup is None else popup.image_url
    upload = form.image_file.data
    if store and upload is not None and getattr(upload, "filename", ""):
        # Upload-only: the shop's CSP allows images from the shop itself (img-src 'self').
        stored = store_upload(upload.read())
        data["image_url"] = url_for("catalog.image", filename=stored.filename)
    return data


def _thumb(popup) -> str | None:
    return safe_image_url(popup.image_url) if popup is not None else None


def _show_errors(form: PopupForm, exc: ValidationFailed) -> None:
    show_service_error(form, exc, default="title", aliases={"image": "image_file", "image_url": "image_file"})


@bp.get("/")
@staff_required
def index():
    popups = services.list_popups()
    stats = services.stats([p.id for p in popups]) if popups else {}
    return render_template("promo_popups/admin_list.html", popups=popups, stats=stats,
                           local=utc_to_local)


def _frames(snap: Snapshot, variant: str) -> list:
    return [("desktop", _("Desktop"), render_popup(snap, variant, preview=True, uid="-desktop")),
            ("phone", _("Phone"), render_popup(snap, variant, preview=True, uid="-phone"))]


def _unsaved_preview(form: PopupForm, popup) -> list:
    """The frames for the form as typed, nothing written (a new upload is not stored for a preview)."""
    data = _form_data(form, popup, store=False)
    values = services.validate(data)
    draft = Popup(id=popup.id if popup is not None else 0, **values)
    variant = "b" if request.form.get("preview_variant") == "b" and draft.b_enabled else "a"
    return _frames(Snapshot.of(draft), variant)


def _form_page(form: PopupForm, popup):
    """Save (then show the saved preview), or with "Preview" show the unsaved form's preview below it."""
    frames = None
    if form.validate_on_submit():
        try:
            if request.form.get("action") == "preview":
                frames = _unsaved_preview(form, popup)
            elif popup is None:
                popup = services.create_popup(_form_data(form), actor=current_user._get_current_object())
                flash(_("Popup saved."), "success")
                return redirect(url_for(".preview", popup_id=popup.id))
            else:
                services.update_popup(popup.id, _form_data(form, popup), actor=current_user._get_current_object())
                flash(_("Popup saved."), "success")
                return redirect(url_for(".preview", popup_id=popup.id))
        except ValidationFailed as exc:
            _show_errors(form, exc)
    return render_template("promo_popups/admin_form.html", form=form, popup=popup, thumb=_thumb(popup),
                           frames=frames, css_url=preview_css_url()), 422 if form.errors else 200


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def create():
    return _form_page(PopupForm(), None)


@bp.route("/<int:popup_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(popup_id: int):
    popup = _popup_or_404(popup_id)
    form = PopupForm(obj=popup) if request.method == "GET" else PopupForm()
    if request.method == "GET":
        form.pages.data = popup.page_list
        form.starts_at.data = utc_to_local(popup.starts_at)
        form.ends_at.data = utc_to_local(popup.ends_at)
    return _form_page(form, popup)


@bp.post("/<int:popup_id>/active")
@staff_required
def toggle(popup_id: int):
    _popup_or_404(popup_id)
    popup = services.set_active(popup_id, request.form.get("active") == "1",
                                 actor=current_user._get_current_object())
    flash(_("Popup activated.") if popup.active else _("Popup paused."), "success")
    return redirect(url_for(".index"))


@bp.post("/<int:popup_id>/delete")
@staff_required
def delete(popup_id: int):
    _popup_or_404(popup_id)
    services.delete_popup(popup_id, actor=current_user._get_current_object())
    flash(_("Popup deleted."), "success")
    return redirect(url_for(".index"))


@bp.get("/<int:popup_id>/preview")
@staff_required
def preview(popup_id: int):
    popup = _popup_or_404(popup_id)
    variant = "b" if request.args.get("variant") == "b" and popup.b_enabled else "a"
    frames = _frames(Snapshot.of(popup), variant)
    return render_template("promo_popups/admin_preview.html", popup=popup, variant=variant, frames=frames,
                           css_url=preview_css_url(), local=utc_to_local)

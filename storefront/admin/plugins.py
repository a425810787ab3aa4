"""Admin pages: plugins (owner only) — enable/disable and per-plugin settings."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ..errors import ServiceError
from ..forms import FlaskForm
from ..i18n import gettext as _
from ..plugins.host import get_host
from .access import owner_required
from .shell_services import save_plugin_settings, set_plugin_enabled
from .views import bp


class PluginActionForm(FlaskForm):
    """Carries the CSRF token of the enable/disable buttons."""


def _settings_form_class(manifest):
    """The manifest's settings form, given CSRF protection if it is a plain WTForms form."""
    cls = manifest.settings_form
    if cls is None:
        return None
    if issubclass(cls, FlaskForm):
        return cls
    return type(f"{cls.__name__}WithCsrf", (FlaskForm, cls), {})


def _settings_form(name: str, manifest, *, bound: bool = False):
    cls = _settings_form_class(manifest)
    if cls is None:
        return None
    prefix = f"{name}-"
    if bound:
        return cls(prefix=prefix)
    # Only stored values: FlaskForm must not pick up another plugin's POST.
    return cls(formdata=None, prefix=prefix, data=get_host().settings(name))


def _render(status: int = 200, bound: dict | None = None):
    host = get_host()
    rows = []
    for name, manifest in host.plugins.items():
        form = (bound or {}).get(name) or _settings_form(name, manifest)
        rows.append({"name": name, "manifest": manifest, "enabled": host.is_enabled(name), "form": form})
    return render_template("admin/plugins.html", plugins=rows, action_form=PluginActionForm()), status


def _manifest_or_404(name: str):
    manifest = get_host().plugins.get(name)
    if manifest is None:
        abort(404)
    return manifest


@bp.get("/plugins")
@owner_required
def plugins():
    return _render()


@bp.post("/plugins/<name>/<any(enable, disable):action>")
@owner_required
def plugin_toggle(name: str, action: str):
    manifest = _manifest_or_404(name)
    form = PluginActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        set_plugin_enabled(name, action == "enable", actor=current_user)
    except ServiceError as exc:
        flash(exc.message, "error")
    else:
        if action == "enable":
            flash(_("%(title)s is enabled.", title=manifest.title), "success")
        else:
            flash(_("%(title)s is disabled.", title=manifest.title), "success")
    return redirect(url_for("admin.plugins"))


@bp.post("/plugins/<name>/settings")
@owner_required
def plugin_settings(name: str):
    manifest = _manifest_or_404(name)
    form = _settings_form(name, manifest, bound=True)
    if form is None:
        abort(404)
    if not form.validate_on_submit():
        return _render(422, bound={name: form})
    try:
        save_plugin_settings(name, form.data, actor=current_user)
    except ServiceError as exc:
        flash(exc.message, "error")
        return _render(exc.status, bound={name: form})
    flash(_("Settings of %(title)s saved.", title=manifest.title), "success")
    return redirect(url_for("admin.plugins") + f"#plugin-{name}")

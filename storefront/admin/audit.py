"""Admin pages: the audit log (owner only, read-only).

The log is append-only: there is deliberately no route that edits or deletes
an entry; rows are only written by :func:`storefront.audit.services.record`.
"""
from __future__ import annotations

import json

from flask import render_template, request, url_for
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from ..forms import FlaskForm
from .access import owner_required
from .shell_services import audit_actions, audit_page
from .views import bp


class AuditFilterForm(FlaskForm):
    """GET filters (no CSRF: they change nothing)."""

    class Meta:
        csrf = False

    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    actor = StringField(_l("Staff e-mail"), validators=[Optional(), Length(max=254)])


def _pretty(value) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1, default=str)


@bp.get("/audit")
@owner_required
def audit():
    form = AuditFilterForm(request.args)
    form.action.choices = [SelectChoice("", _l("All actions"))] + [SelectChoice(a, a) for a in audit_actions()]
    action = actor = ""
    if form.validate():
        action = form.action.data or ""
        actor = (form.actor.data or "").strip()
    rows, next_after = audit_page(action=action, actor=actor, after=request.args.get("after", type=int))
    next_url = None
    if next_after:
        args = {k: v for k, v in request.args.items() if k != "after" and v}
        next_url = url_for("admin.audit", after=next_after, **args)
    return render_template("admin/audit.html", rows=rows, form=form, next_url=next_url, pretty=_pretty)

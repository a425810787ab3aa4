"""A plugin whose dashboard widget always fails (the dashboard must survive it)."""
from __future__ import annotations

from wtforms import Form, StringField
from wtforms.validators import DataRequired

from storefront.plugins import Plugin, hookimpl


class FaultyHooks:
    @hookimpl
    def dashboard_widgets(self, user):
        raise RuntimeError("widget exploded")


plugin = Plugin(name="faulty", title="Faulty plugin", version="0.1", hooks=FaultyHooks(),
                enabled_by_default=True)


class PlainSettings(Form):
    """A plain WTForms form (no Flask-WTF): the admin adds CSRF protection itself."""

    label = StringField("Label", validators=[DataRequired()])


plugin.settings_form = PlainSettings
plugin.default_settings = {"label": "plain"}

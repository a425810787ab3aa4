"""The base of every form, and helpers shared by the core's and plugins' pages."""
from __future__ import annotations

import functools
from typing import Mapping

import flask_wtf
from babel import support
from flask import current_app
from wtforms.i18n import messages_path

from .csrf_reuse import FormCSRF
from .i18n import babel_locale_name, compiled_translations_dir


class FlaskForm(flask_wtf.FlaskForm):
    """Flask-WTF's form, its CSRF token signed once a minute per session (``csrf_reuse``), with
    WTForms' own messages ("This field is required.",
    "Field cannot be longer than 120 characters.") in the visitor's language.

    Flask-WTF reads and parses WTForms' catalogue from disk on every request
    that builds a form (a twentieth of the checkout page's CPU), and WTForms
    ships no Vietnamese catalogue at all, so Vietnamese buyers read those
    messages in English. Here each process loads them once per language: the
    shop's own ``wtforms.po`` first (``storefront/translations``), WTForms'
    catalogue after it for anything newer.
    """

    class Meta(flask_wtf.FlaskForm.Meta):
        csrf_class = FormCSRF

        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return wtforms_translations(str(compiled_translations_dir(current_app)), babel_locale_name())


@functools.lru_cache(maxsize=32)
def wtforms_translations(directory: str, locale: str) -> support.NullTranslations:
    """WTForms' messages in ``locale``: the catalogue compiled into ``directory``, then WTForms' own.

    Shared by every request of the process: a loaded catalogue is only read.
    """
    ours = support.Translations.load(directory, [locale], domain="wtforms")
    ours.add_fallback(support.Translations.load(messages_path(), [locale], domain="wtforms"))
    return ours


def show_service_error(form, exc, *, default: str | None = None,
                       aliases: Mapping[str, str] | None = None) -> bool:
    """Put a :class:`~storefront.errors.ServiceError`'s message next to the field it names.

    ``exc.details["fields"]`` (field -> message) places several messages on
    the fields the form has; otherwise ``exc.field`` is used, mapped through
    ``aliases`` (service name -> form field) and falling back to ``default``
    when the form has no such field. Returns False when nothing was placed:
    the caller then shows the message another way (a flash).
    """
    aliases = aliases or {}
    several = exc.details.get("fields") if isinstance(exc.details, dict) else None
    if several:
        targets = {aliases.get(name, name): message for name, message in several.items()}
        targets = {name: message for name, message in targets.items() if name in form}
    else:
        name = aliases.get(exc.field, exc.field) if exc.field else None
        name = name if name and name in form else default
        targets = {name: exc.message} if name and name in form else {}
    for name, message in targets.items():
        form[name].errors = list(form[name].errors) + [str(message)]
    return bool(targets)

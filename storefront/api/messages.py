"""The API's errors in the buyer's language.

A JSON error's ``message`` is what a shop's app shows; ``code`` is what it
branches on. Werkzeug's default descriptions ("The requested URL was not
found on the server. ...") and marshmallow's field messages ("Missing data
for required field.") are English only. They are translated when the error
is answered: marshmallow's by its message text, the way the shop's
``wtforms.po`` translates WTForms' (``docs/translations.md``). A message the
shop's own schemas or services raised is already translated and passes
through; so does one this table does not know (a library upgrade's new
wording), in English, rather than being lost.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from flask_babel import lazy_gettext as _l

from ..i18n import gettext as _

_FIXED = {
    "Missing data for required field.": _l("This field is required."),
    "Field may not be null.": _l("This field may not be empty."),
    "Invalid value.": _l("Invalid value."),
    "Not a valid string.": _l("Enter text."),
    "Not a valid utf-8 string.": _l("Enter text."),
    "Not a valid integer.": _l("Enter a whole number."),
    "Not a valid number.": _l("Enter a number."),
    "Number too large.": _l("That number is too large."),
    "Special numeric values (nan or infinity) are not permitted.": _l("Enter a number."),
    "Not a valid boolean.": _l("Enter true or false."),
    "Not a valid mapping type.": _l("Send a JSON object."),
    "Invalid type.": _l("Send a JSON object."),
    "Invalid input type.": _l("Send a JSON object."),
    "Not a valid list.": _l("Send a list."),
    "Not a valid date.": _l("Enter a date as YYYY-MM-DD."),
    "Not a valid datetime.": _l("Enter a date and time (RFC 3339)."),
    "Unknown field.": _l("This field is not accepted."),
}

_PATTERNS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"^Longer than maximum length (\d+)\.$"),
     lambda m: _("Use at most %(n)s characters.", n=m[1])),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"),
     lambda m: _("Use at least %(n)s characters.", n=m[1])),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"),
     lambda m: _("Use %(min)s to %(max)s characters.", min=m[1], max=m[2])),
    (re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
     lambda m: _("Enter a value from %(min)s to %(max)s.", min=m[1], max=m[2])),
    (re.compile(r"^Must be greater than or equal to (\S+)\.$"),
     lambda m: _("Enter at least %(min)s.", min=m[1])),
    (re.compile(r"^Must be less than or equal to (\S+)\.$"),
     lambda m: _("Enter at most %(max)s.", max=m[1])),
    (re.compile(r"^Must be one of: (.*)\.$"),
     lambda m: _("Choose one of: %(choices)s.", choices=m[1])),
]


def translated(message: str) -> str:
    """One marshmallow message in the request's language (unknown ones as they are)."""
    fixed = _FIXED.get(message)
    if fixed is not None:
        return str(fixed)
    for pattern, render in _PATTERNS:
        match = pattern.match(message)
        if match:
            return render(match)
    return message


def translated_fields(messages: Any) -> Any:
    """webargs' ``{"json": {"field": ["message", ...]}}`` (nested for nested schemas), translated."""
    if isinstance(messages, dict):
        return {key: translated_fields(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [translated_fields(value) for value in messages]
    if isinstance(messages, str):
        return translated(messages)
    return messages


def http_error_message(code: int, description: str | None, default_description: str | None,
                       generic: Callable[[int], str]) -> str:
    """A werkzeug error's message: ``generic(code)`` (translated) in place of werkzeug's English
    default, and for 422 and 429, whose descriptions are a library's English; a description
    the shop gave (``abort(404, description=_(...))``) as it is."""
    if code == 422:
        return _("Some fields are missing or invalid; see fields.")
    if code == 429 or not description or description == default_description:
        return generic(code)
    return description

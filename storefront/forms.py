"""Form helpers shared by the core's and plugins' pages."""
from __future__ import annotations

from typing import Mapping


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

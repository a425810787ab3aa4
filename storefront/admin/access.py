"""Access rules for staff pages: staff (or owner) only; owners for shop-wide settings."""
from __future__ import annotations

from functools import wraps

from flask import abort, g
from flask_login import current_user, login_required


def staff_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_staff:
            abort(403)
        g.no_store = True
        return view(*args, **kwargs)

    return wrapper


def owner_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_owner:
            abort(403)
        g.no_store = True
        return view(*args, **kwargs)

    return wrapper

"""An id past the database's integer range (``MAX_ROW_ID``) in any route's path is "not
found", never a 500: the database driver refuses such a number, so the URL's values
are checked before any view runs (``storefront/web.py``)."""
from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from storefront.models_base import MAX_ROW_ID
from tests.checkout.helpers import api_token
from tests.conftest import new_client
from tests.factories import make_staff, make_user, sign_in

HUGE = 10 ** 20


def _int_routes(app):
    """(rule, method) of every route with an integer in its path (core and plugins)."""
    for rule in app.url_map.iter_rules():
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield rule, method


def _path(rule, value) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = value
        elif getattr(converter, "items", None):  # <any(up,down,delete):action>
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "x"
    return rule.build(values, append_unknown=False)[1]


@pytest.mark.parametrize("value", [HUGE, MAX_ROW_ID + 1])
def test_no_route_answers_a_huge_id_with_a_500(app, value):
    staff = make_staff()
    page_client = new_client(app)
    sign_in(page_client, staff)
    headers = api_token(staff)
    api_client = new_client(app)
    checked, errors = 0, []
    for rule, method in _int_routes(app):
        path = _path(rule, value)
        is_api = path.startswith("/api/")
        client = api_client if is_api else page_client
        response = client.open(path, method=method, headers=headers if is_api else {},
                               json={} if is_api and method != "GET" else None)
        checked += 1
        if response.status_code >= 500:
            errors.append(f"{method} {path}: {response.status_code}")
    assert checked > 20, "no integer routes: this proves nothing"
    assert errors == [], "\n".join(errors)


def test_the_largest_id_still_reaches_the_view(app, client):
    sign_in(client, make_user())
    # The view's own look-up answers: not found, as for any id no row has.
    assert client.get(f"/account/addresses/{MAX_ROW_ID}/edit").status_code == 404

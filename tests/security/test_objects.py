"""(b) Another buyer's objects: every route whose URL names a buyer's object
(order number, address, payment reference, ...) answers 404 to another
signed-in buyer, on every method, and changes nothing."""
from __future__ import annotations

from .conftest import new_client, signed_in
from .test_access import send, url_values
from .walker import OWNED_PARAMS, diff, fingerprint, fill, is_admin, is_api, methods_of, rules


def _owned_routes(app):
    for rule in rules(app):
        if not set(rule.arguments) & OWNED_PARAMS:
            continue
        for method in methods_of(rule):
            if not is_admin(app, rule, method):
                yield rule, method


def test_another_buyers_objects_are_404(app, world):
    mallory = signed_in(app, world.other)
    before = fingerprint()
    problems, tried = [], 0
    for rule, method in _owned_routes(app):
        url = fill(rule, url_values(app, rule, world, owned=world.values))  # the victim's objects
        if is_api(app, rule):  # bearer token only: a session would win over it
            r = send(new_client(app), app, rule, method, url, headers=world.tokens["other"])
        else:
            r = send(mallory, app, rule, method, url)
        tried += 1
        if r.status_code != 404:
            problems.append(f"{method} {url} ({rule.endpoint}) -> {r.status_code}")
        victim_data = [str(world.values["number"]), world.buyer.email, world.buyer.name]
        body = r.get_data(as_text=True)
        for secret in victim_data:
            if r.status_code != 404 and secret in body:
                problems.append(f"{method} {url} leaks {secret!r}")
        after = fingerprint()
        if after != before:
            problems.append(f"{method} {url} changed {diff(before, after)}")
            before = after
    assert tried >= 10, "the walker found too few buyer-object routes"
    assert not problems, "\n".join(problems)


def test_the_owner_of_the_object_gets_it(app, world):
    """The values used above are real: the same GET routes answer the owner (else the 404s prove nothing)."""
    owner = signed_in(app, world.other)
    found = []
    for rule, method in _owned_routes(app):
        if method != "GET" or not ({"number", "address_id", "reference"} >= set(rule.arguments)):
            continue
        url = fill(rule, url_values(app, rule, world, owned=world.other_values))
        if is_api(app, rule):
            r = send(new_client(app), app, rule, method, url, headers=world.tokens["other"])
        else:
            r = send(owner, app, rule, method, url)
        if r.status_code == 200:
            found.append(rule.endpoint)
    for endpoint in ("orders.detail", "accounts.edit_address", "api_orders.get_order"):
        assert endpoint in found, f"{endpoint} did not answer its owner: {found}"

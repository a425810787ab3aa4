"""(c) Cross-site request forgery: every state-changing HTML route refuses a
request without a CSRF token (400, nothing changed), whoever sends it; API
routes are CSRF-exempt because a session cookie alone cannot drive them."""
from __future__ import annotations

from storefront.extensions import csrf

from .conftest import new_client, signed_in
from .test_access import refused_anonymous, send, url_values
from .walker import (CSRF_EXEMPT_HTML, PUBLIC_API_WRITES, WRITE_METHODS, diff, fingerprint, fill, is_api,
                     methods_of, rules)


def _is_exempt(app, rule) -> bool:
    view = app.view_functions[rule.endpoint]
    location = f"{view.__module__}.{view.__name__}"
    blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
    return location in csrf._exempt_views or (blueprint in csrf._exempt_blueprints)


def test_only_declared_callbacks_are_csrf_exempt(csrf_app):
    wrongly = [f"{rule.rule} ({rule.endpoint})" for rule in rules(csrf_app)
               if not is_api(csrf_app, rule) and set(methods_of(rule)) & set(WRITE_METHODS)
               and _is_exempt(csrf_app, rule) and rule.endpoint not in CSRF_EXEMPT_HTML]
    assert not wrongly, "CSRF-exempt HTML routes not declared in walker.CSRF_EXEMPT_HTML:\n" + "\n".join(wrongly)


def test_html_writes_without_a_csrf_token_are_refused(csrf_app, world):
    clients = {"owner": signed_in(csrf_app, world.owner), "buyer": signed_in(csrf_app, world.buyer),
               "anonymous": new_client(csrf_app)}
    before = fingerprint()
    problems, tried = [], 0
    for rule in rules(csrf_app):
        if is_api(csrf_app, rule) or rule.endpoint in CSRF_EXEMPT_HTML:
            continue
        for method in methods_of(rule):
            if method not in WRITE_METHODS:
                continue
            url = fill(rule, url_values(csrf_app, rule, world, owned=world.values))
            for who, client in clients.items():
                tried += 1
                r = send(client, csrf_app, rule, method, url)
                if r.status_code != 400:
                    problems.append(f"{who} {method} {url} ({rule.endpoint}) without token -> {r.status_code}")
                after = fingerprint()
                if after != before:
                    problems.append(f"{who} {method} {url} changed {diff(before, after)}")
                    before = after
    assert tried > 100
    assert not problems, "\n".join(problems)


def test_a_session_cookie_alone_cannot_drive_the_api(csrf_app, world):
    """What a forged cross-site request would carry: the owner's cookie, no bearer token."""
    owner = signed_in(csrf_app, world.owner)
    assert owner.get("/admin/").status_code == 200  # the cookie is a real staff session
    before = fingerprint()
    problems = []
    for rule in rules(csrf_app):
        if not is_api(csrf_app, rule) or rule.endpoint in PUBLIC_API_WRITES:
            continue
        for method in methods_of(rule):
            if method not in WRITE_METHODS:
                continue
            url = fill(rule, url_values(csrf_app, rule, world, owned=world.values))
            r = send(owner, csrf_app, rule, method, url)
            if not refused_anonymous(csrf_app, rule, method, r):
                problems.append(f"{method} {url} ({rule.endpoint}) with a session cookie -> {r.status_code}")
            after = fingerprint()
            if after != before:
                problems.append(f"{method} {url} changed {diff(before, after)}")
                before = after
    assert not problems, "\n".join(problems)

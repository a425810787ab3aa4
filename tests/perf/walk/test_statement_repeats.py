"""No page sends the same statement three times (issue 9: no N+1 on any page).

An N+1 -- a lazy load per row of a list, a lookup per line -- shows up in one
request as one SQL text sent again and again with different parameters. The
walker asks for every GET route of ``app.url_map`` (pages and API, core and
plugins, a route added later included) as the role that may see it, on the
demo shop, and counts each statement's text. Nothing is timed.
"""
from __future__ import annotations

import re
from collections import Counter

from tests.perf.conftest import count_queries
from tests.security.conftest import new_client, signed_in
from tests.security.test_access import url_values
from tests.security.walker import PUBLIC_ENDPOINTS, fill, is_admin, is_api, rules

REPEAT_LIMIT = 3
# Files, not pages: nothing of the shop's data is read.
SKIPPED = {"static", "catalog.image", "api-docs.openapi_json"}


def _shape(statement: str) -> str:
    """The statement's text with literals blanked: a per-row lookup that inlines its value
    (IN lists, LIMIT) still counts as the same statement."""
    text = re.sub(r"'[^']*'", "?", statement)
    text = re.sub(r"\b\d+\b", "?", text)
    return re.sub(r"\(\s*\?(?:\s*,\s*\?)*\s*\)", "(?)", text)


def _who(app, rule, world) -> list[tuple[str, object, dict]]:
    """(label, client, headers) of each role that may read ``rule``."""
    if is_admin(app, rule, "GET"):
        roles = [("owner", world.owner)]
    elif rule.endpoint in PUBLIC_ENDPOINTS:
        roles = [("anonymous", None), ("buyer", world.buyer)]
    else:
        roles = [("buyer", world.buyer)]
    out = []
    for label, user in roles:
        if is_api(app, rule):
            out.append((label, new_client(app), world.tokens[label] if user is not None else {}))
        else:
            out.append((label, signed_in(app, user) if user is not None else new_client(app), {}))
    return out


def test_no_page_sends_a_statement_three_times(app, crowded_world):
    world = crowded_world
    problems, walked, answered = [], 0, 0
    for rule in rules(app):
        if "GET" not in rule.methods or rule.endpoint in SKIPPED or rule.endpoint.endswith(".static"):
            continue
        url = fill(rule, url_values(app, rule, world, owned=world.values))
        assert url, f"cannot fill {rule.rule}"
        for label, client, headers in _who(app, rule, world):
            with count_queries() as seen:
                response = client.get(url, headers=headers)
                response.get_data()  # a streamed export reads the database while it is sent
                response.close()
            walked += 1
            answered += response.status_code == 200
            if response.status_code >= 500:
                problems.append(f"{label} GET {url} -> {response.status_code}")
            for shape, times in Counter(_shape(s) for s in seen).items():
                if times >= REPEAT_LIMIT and not shape.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")):
                    problems.append(f"{label} GET {url} ({rule.endpoint}) -> {response.status_code}: "
                                    f"{times}x {shape[:160]}")
    assert walked > 100 and answered > 100, (
        f"{walked} requests, {answered} answered 200: is the route recognition or the world broken?")
    assert not problems, "\n".join(problems)

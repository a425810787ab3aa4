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
from datetime import date
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode

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


def _links(html: str) -> list[str]:
    """Same-site links that carry a query string: filters, tabs, the next page of a list."""
    return [unescape(h) for h in re.findall(r'href="(/[^"#]*\?[^"#]*)"', html)]


class _GetForms(HTMLParser):
    """``<form method="get">`` of a page, each filled as a visitor narrowing a list would:
    every select on its first real option, every box ticked, a date, a number, a word."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict]] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "get" and (a.get("action") or "/").startswith("/"):
            self._form = {}
            self.forms.append((a.get("action") or "", self._form))
        elif self._form is None or not a.get("name"):
            if tag == "option" and self._form is not None and self._select and a.get("value"):
                self._form.setdefault(self._select, a["value"])
            return
        elif tag == "select":
            self._select = a["name"]
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            value = {"date": date.today().isoformat(), "number": "1", "checkbox": a.get("value") or "y",
                     "hidden": a.get("value") or "", "submit": None}.get(kind, a.get("value") or "a")
            if value is not None:
                self._form.setdefault(a["name"], value)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _filled_get_forms(html: str, page: str) -> list[str]:
    parser = _GetForms()
    parser.feed(html)
    return [f"{unescape(action) or page.partition('?')[0]}?{urlencode(fields)}"
            for action, fields in parser.forms if fields]


def _request(client, url: str, headers: dict, label: str, endpoint: str, problems: list[str]):
    with count_queries() as seen:
        response = client.get(url, headers=headers)
        response.get_data()  # a streamed export reads the database while it is sent
        response.close()
    if response.status_code >= 500:
        problems.append(f"{label} GET {url} -> {response.status_code}")
    for shape, times in Counter(_shape(s) for s in seen).items():
        if times >= REPEAT_LIMIT and not shape.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")):
            problems.append(f"{label} GET {url} ({endpoint}) -> {response.status_code}: {times}x {shape[:160]}")
    return response


def test_no_page_sends_a_statement_three_times(app, crowded_world):
    """Every GET route once, then every differently-shaped query-string link and GET form its
    pages show (filters, search, tabs, the next page of a list), as the role that saw it."""
    world = crowded_world
    adapter = app.url_map.bind("localhost")
    problems, answered, followed = [], 0, 0
    seen_shapes: set[tuple] = set()
    to_follow: list[tuple] = []
    for rule in rules(app):
        if "GET" not in rule.methods or rule.endpoint in SKIPPED or rule.endpoint.endswith(".static"):
            continue
        url = fill(rule, url_values(app, rule, world, owned=world.values))
        assert url, f"cannot fill {rule.rule}"
        for label, client, headers in _who(app, rule, world):
            response = _request(client, url, headers, label, rule.endpoint, problems)
            answered += response.status_code == 200
            if response.status_code == 200 and response.mimetype == "text/html":
                html = response.get_data(as_text=True)
                to_follow += [(label, client, headers, link) for link in _links(html) + _filled_get_forms(html, url)]
    for label, client, headers, link in to_follow:
        path, _, query = link.partition("?")
        try:
            endpoint, _args = adapter.match(path, method="GET")
        except Exception:  # a link to a route that answers only POST, or none
            continue
        shape = (label, endpoint, tuple(sorted({k for k, v in parse_qsl(query, keep_blank_values=True) if v})))
        if endpoint in SKIPPED or endpoint.endswith(".static") or shape in seen_shapes:
            continue
        seen_shapes.add(shape)
        _request(client, link, headers, label, endpoint, problems)
        followed += 1
    assert answered > 100, f"{answered} routes answered 200: is the route recognition or the world broken?"
    assert followed > 20, f"only {followed} query-string links followed: are the lists' filters gone?"
    assert not problems, "\n".join(problems)

"""No page sends the same statement three times (issue 9: no N+1 on any page), nor more
than a budget of statements.

An N+1 -- a lazy load per row of a list, a lookup per line -- shows up in one
request as one SQL text sent again and again with different parameters. The
walk (``pages.walk``) covers every GET page and API route, and the filters,
searches and next pages they link to, on the demo shop with generated orders.
Nothing is timed.
"""
from __future__ import annotations

import re
from collections import Counter

from .pages import walk

REPEAT_LIMIT = 3
# No page may send more (BEGIN included). The most any page sent when this was set: 19,
# the staff dashboard. A plugin that adds a query to every order page shows up here.
STATEMENT_BUDGET = 25
# Pages about one object that must be walked for real, not as a 404 for a made-up key.
MUST_ANSWER = {"catalog.product", "catalog.category", "api_catalog.ProductDetail", "presale_api.product_terms",
               "checkout.buy_now", "orders.detail", "admin.order_detail", "aftersales.case_page",
               "aftersales_admin.case_page", "aftersales_staff_api.staff_show", "order_tracking.signed"}


def _shape(statement: str) -> str:
    """The statement's text with literals blanked: a per-row lookup that inlines its value
    (IN lists, LIMIT) still counts as the same statement."""
    text = re.sub(r"'[^']*'", "?", statement)
    text = re.sub(r"\b\d+\b", "?", text)
    return re.sub(r"\(\s*\?(?:\s*,\s*\?)*\s*\)", "(?)", text)


def test_no_page_sends_a_statement_three_times(app, crowded_world):
    problems, answered, followed, seen = [], 0, 0, set()
    for visit in walk(app, crowded_world):
        answered += visit.status == 200
        if visit.status == 200:
            seen.add(visit.endpoint)
        followed += "?" in visit.url
        if visit.status >= 500:
            problems.append(f"{visit.label} GET {visit.url} -> {visit.status}")
        if len(visit.statements) > STATEMENT_BUDGET:
            problems.append(f"{visit.label} GET {visit.url} ({visit.endpoint}): {len(visit.statements)} statements, "
                            f"over the budget of {STATEMENT_BUDGET}")
        for shape, times in Counter(_shape(s.sql) for s in visit.statements).items():
            if times >= REPEAT_LIMIT and not shape.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")):
                problems.append(f"{visit.label} GET {visit.url} ({visit.endpoint}) -> {visit.status}: "
                                f"{times}x {shape[:160]}")
    assert answered > 100, f"{answered} requests answered 200: is the route recognition or the world broken?"
    assert followed > 20, f"only {followed} query-string links and forms followed: are the lists' filters gone?"
    assert MUST_ANSWER <= seen, f"walked only as errors: {sorted(MUST_ANSWER - seen)}"
    assert not problems, "\n".join(problems)

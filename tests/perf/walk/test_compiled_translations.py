"""Every page reads the same with its templates translated when compiled as with Jinja's
runtime translation calls (storefront/template_i18n.py), in each language the shop speaks.

The walk visits every GET page and every differently-shaped link and GET form those pages
show, as the role that may see it; each HTML page is asked for again at once with the
compile-time translation switched off, and the two must be the same text but for what is
new on every request: CSRF tokens (signed with the second they were made in), idempotency
keys and the ids tying a chart to its title.
"""
from __future__ import annotations

import difflib
import re

import pytest

from .pages import walk

_VARYING = (
    (re.compile(r'(name="csrf_token"[^>]*value=")[^"]*"'), r'\1…"'),
    (re.compile(r"\b[0-9a-f]{24}(?:[0-9a-f]{8})?\b"), "…"),  # idempotency keys
    (re.compile(r"\bchart-[0-9a-f]{8}\b"), "chart-…"),  # a chart's aria ids
)


def _comparable(html: str) -> str:
    for pattern, replacement in _VARYING:
        html = pattern.sub(replacement, html)
    return html


@pytest.mark.parametrize("language", ["vi-VN,vi;q=0.9", "zh-CN,zh;q=0.9"], ids=["vi", "zh"])
def test_every_page_reads_the_same_translated_when_compiled(app, crowded_world, language, monkeypatch):
    pages, problems = 0, []
    for visit in walk(app, crowded_world, {"Accept-Language": language}):
        if visit.html is None:
            continue
        pages += 1
        with monkeypatch.context() as runtime_calls:  # the app's environment serves its own look-ups
            runtime_calls.setattr(app.jinja_env, "_for_current_language", lambda: app.jinja_env)
            status, runtime = visit.again()
        if status != 200 or _comparable(runtime) != _comparable(visit.html):
            diff = difflib.unified_diff(_comparable(runtime).splitlines(), _comparable(visit.html).splitlines(),
                                        "runtime", "compiled", n=0, lineterm="")
            problems.append(f"{visit.label} GET {visit.url} ({visit.endpoint}): {status}\n"
                            + "\n".join(line[:300] for line in list(diff)[:12]))
    assert pages > 100, "the walk found too few pages: is the world broken?"
    assert not problems, "\n\n".join(problems[:10])

"""Every page links to the same URLs with the templates' url_for memo (storefront/url_memo.py)
as with Flask's url_for.

The walk visits every GET page and every differently-shaped link and GET form those pages
show, as the role that may see it. Each HTML page is asked for again, once more with the
memo (by then it holds the page's URLs: every one comes from it) and once with Flask's own
url_for, and the two must be the same text but for what is new on every request: CSRF
tokens, idempotency keys and the ids tying a chart to its title.
"""
from __future__ import annotations

import difflib

from storefront.url_memo import UrlMemo

from .pages import walk
from .test_compiled_translations import _comparable


def test_every_page_links_the_same_with_the_memo(app, crowded_world, monkeypatch):
    memo = app.jinja_env.globals["url_for"]
    assert isinstance(memo, UrlMemo)
    pages, problems = 0, []
    for visit in walk(app, crowded_world):
        if visit.html is None:
            continue
        pages += 1
        status, remembered = visit.again()
        with monkeypatch.context() as flask_url_for:
            flask_url_for.setitem(app.jinja_env.globals, "url_for", app.url_for)
            status_built, built = visit.again()
        if status != status_built or _comparable(remembered) != _comparable(built):
            diff = difflib.unified_diff(_comparable(built).splitlines(), _comparable(remembered).splitlines(),
                                        "flask", "memo", n=0, lineterm="")
            problems.append(f"{visit.label} GET {visit.url} ({visit.endpoint}): {status}/{status_built}\n"
                            + "\n".join(line[:300] for line in list(diff)[:12]))
    assert pages > 100, "the walk found too few pages: is the world broken?"
    assert len(memo.urls) > 200  # product, order and staff links of the whole shop
    assert not problems, "\n\n".join(problems[:10])

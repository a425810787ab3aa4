"""Every page links to the same URLs with the templates' url_for memo (storefront/url_memo.py)
as with Flask's url_for.

The walk visits every GET page and every differently-shaped link and GET form those pages
show, as the role that may see it. Each HTML page is asked for again, once more with the
memo (by then it holds the page's URLs: every one comes from it) and once with Flask's own
url_for, and the two must be the same text but for what is new on every request: CSRF
tokens, idempotency keys and the ids tying a chart to its title.
"""
from __future__ import annotations

from storefront.url_memo import UrlMemo

from .pages import pages_read_differently


def test_every_page_links_the_same_with_the_memo(app, crowded_world):
    memo = app.jinja_env.globals["url_for"]
    assert isinstance(memo, UrlMemo)

    def flask_url_for(patch):
        patch.setitem(app.jinja_env.globals, "url_for", app.url_for)

    pages, problems = pages_read_differently(app, crowded_world, flask_url_for, ("flask", "memo"),
                                             ask_again_first=True)
    assert pages > 100, "the walk found too few pages: is the world broken?"
    assert len(memo.urls) > 200  # product, order and staff links of the whole shop
    assert not problems, "\n\n".join(problems[:10])

"""Every page reads the same with its templates translated when compiled as with Jinja's
runtime translation calls (storefront/template_i18n.py), in each language the shop speaks.

The walk visits every GET page and every differently-shaped link and GET form those pages
show, as the role that may see it; each HTML page is asked for again at once with the
compile-time translation switched off, and the two must be the same text but for what is
new on every request: CSRF tokens (signed with the second they were made in), idempotency
keys and the ids tying a chart to its title.
"""
from __future__ import annotations

import pytest

from .pages import pages_read_differently


@pytest.mark.parametrize("language", ["vi-VN,vi;q=0.9", "zh-CN,zh;q=0.9"], ids=["vi", "zh"])
def test_every_page_reads_the_same_translated_when_compiled(app, crowded_world, language):
    def runtime_calls(patch):  # the app's environment serves its own look-ups
        patch.setattr(app.jinja_env, "_for_current_language", lambda: app.jinja_env)

    pages, problems = pages_read_differently(app, crowded_world, runtime_calls, ("runtime", "compiled"),
                                             extra_headers={"Accept-Language": language})
    assert pages > 100, "the walk found too few pages: is the world broken?"
    assert not problems, "\n\n".join(problems[:10])

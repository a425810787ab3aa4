"""Templates translated when compiled (storefront/template_i18n.py) read exactly as the
runtime calls did, in each language, and never one language's words in another's page."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from flask import Flask, render_template
from flask_babel import force_locale, refresh
from jinja2 import DictLoader

from storefront import template_i18n
from storefront.template_i18n import LocalisedEnvironment

VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}

SOURCES = {
    "plain.html": "{{ _('Your cart') }}|{{ gettext('Cart') }}",
    "variables.html": "{{ _('Delivery: %(label)s', label=label) }}",
    # A translation is trusted markup; only the values put into it are escaped.
    "markup.html": "{{ _('<b>%(who)s</b> wrote', who=who) }}|{{ _('<hr>') }}",
    "percent.html": "{{ _('%(pct)s%% off', pct=pct) }}|{{ _('100%% sure') }}",
    "malformed.html": "{{ _('50% off') }}",
    "contextual.html": "{{ pgettext('menu', 'Cart') }}|{{ pgettext('menu', '%(context)s: %(n)s', n=n) }}",
    "plural.html": "{{ ngettext('%(num)s unread message', '%(num)s unread messages', n) }}",
    "in_expression.html": "{{ (_('Cart') ~ '!')|upper }}{% set title = _('Your cart') %}[{{ title }}]",
    "shadowed.html": "{% macro box(_) %}{{ _('Cart') }}{% endmacro %}{{ box(shout) }}",
    "set_shadow.html": "{% set gettext = shout %}{{ gettext('Cart') }}",
    "mail.txt": "{{ _('Delivery: %(label)s', label=label) }}",
    "layout.html": "<h1>{% block title %}{% endblock %}</h1>{% include 'plain.html' %}",
    "page.html": "{% extends 'layout.html' %}{% block title %}{{ _('Cart') }}{% endblock %}",
    "macros.html": "{% macro hello() %}{{ greeting }}, {{ _('Cart') }}{% endmacro %}",
    "imports.html": "{% import 'macros.html' as m %}{{ m.hello() }}",
    "greets.html": "{{ greeting }}",
}


@pytest.fixture
def env(app):
    """An environment of the app's kind over the sources above, with its own overlays."""
    environment = app.jinja_env.overlay(loader=DictLoader(SOURCES), cache_size=50)
    environment.globals = dict(environment.globals)
    environment._overlays = {}
    return environment


def _runtime(env):
    """The same environment without compile-time translation: what the templates did before."""
    runtime = env.overlay(cache_size=50)
    runtime._for_current_language = lambda: runtime
    return runtime


@contextmanager
def _request(app, headers=None):
    """A request in the language of ``headers``. The test's app context (the app fixture's)
    outlives it, so the language Flask-Babel kept on ``g`` is chosen again, as a real
    request's own context would."""
    with app.test_request_context(headers=headers or {}):
        refresh()
        yield


def _both(app, env, name, headers, **context):
    with _request(app, headers):
        compiled = env.get_template(name).render(**context)
        runtime = _runtime(env).get_template(name).render(**context)
    return compiled, runtime


@pytest.mark.parametrize("headers", [VI, ZH, {}], ids=["vi", "zh", "en"])
@pytest.mark.parametrize("name,context", [
    ("plain.html", {}),
    ("variables.html", {"label": "<script>x</script> & Co"}),
    ("markup.html", {"who": "<i>Lan</i>"}),
    ("percent.html", {"pct": "<b>20</b>"}),
    ("contextual.html", {"n": "<i>3</i>"}),
    ("plural.html", {"n": 1}),
    ("plural.html", {"n": 4}),
    ("in_expression.html", {}),
    ("shadowed.html", {"shout": lambda text: f"{text.upper()}!"}),
    ("set_shadow.html", {"shout": lambda text: f"{text.upper()}!"}),
    ("mail.txt", {"label": "<b>Express</b>"}),
    ("page.html", {}),
])
def test_a_template_reads_exactly_as_with_the_runtime_calls(app, env, headers, name, context):
    compiled, runtime = _both(app, env, name, headers, **context)
    assert compiled == runtime


def test_the_text_is_translated_and_the_values_escaped(app, env):
    compiled, _ = _both(app, env, "variables.html", VI, label="<b>Nhanh</b>")
    assert compiled == "Giao hàng: &lt;b&gt;Nhanh&lt;/b&gt;"
    compiled, _ = _both(app, env, "plain.html", ZH)
    assert compiled == "我的购物车|购物车"
    compiled, _ = _both(app, env, "markup.html", {}, who="<i>Lan</i>")
    assert compiled == "<b>&lt;i&gt;Lan&lt;/i&gt;</b> wrote|<hr>"
    compiled, _ = _both(app, env, "percent.html", {}, pct=20)
    assert compiled == "20% off|100% sure"
    # A plain-text mail is not HTML: nothing is escaped, as before.
    compiled, _ = _both(app, env, "mail.txt", VI, label="<b>Nhanh</b>")
    assert compiled == "Giao hàng: <b>Nhanh</b>"


def test_a_local_name_wins_over_the_translation(app, env):
    shout = lambda text: f"{text.upper()}!"  # noqa: E731
    assert _both(app, env, "shadowed.html", VI, shout=shout)[0] == "CART!"
    assert _both(app, env, "set_shadow.html", VI, shout=shout)[0] == "CART!"


def test_a_malformed_format_fails_as_it_did(app, env):
    with _request(app), pytest.raises((ValueError, TypeError)) as compiled:
        env.get_template("malformed.html").render()
    with _request(app), pytest.raises((ValueError, TypeError)) as runtime:
        _runtime(env).get_template("malformed.html").render()
    assert type(compiled.value) is type(runtime.value)


def test_each_language_has_its_own_compiled_templates(app, env):
    """The same template asked for in turn in three languages (and ``force_locale``, as the
    mails use) never shows one language's words in another's."""
    seen = []
    for headers in (ZH, VI, {}, ZH, VI):
        with _request(app, headers):
            seen.append(env.get_template("page.html").render())
    with _request(app, ZH), force_locale("vi"):
        forced = env.get_template("page.html").render()
    assert seen[0] == seen[3] == "<h1>购物车</h1>我的购物车|购物车"
    assert seen[1] == seen[4] == forced == "<h1>Giỏ hàng</h1>Giỏ hàng của bạn|Giỏ hàng"
    assert seen[2] == "<h1>Cart</h1>Your cart|Cart"
    assert len(env._overlays) == 3


def test_literal_calls_cost_nothing_at_render_time(app, env):
    """What makes it worth having: the compiled page calls no translation function."""
    def refuse(*args, **kwargs):
        raise AssertionError("a translation call at render time")

    with _request(app, VI):
        template = env.get_template("page.html")
        env.globals.update(gettext=refuse, _=refuse)
        assert template.render() == "<h1>Giỏ hàng</h1>Giỏ hàng của bạn|Giỏ hàng"
        with pytest.raises(AssertionError):
            _runtime(env).get_template("page.html").render()


def test_past_the_language_bound_the_runtime_calls_serve(app, env, monkeypatch):
    monkeypatch.setattr(template_i18n, "MAX_LANGUAGES", 1)
    assert _both(app, env, "plain.html", ZH)[0] == "我的购物车|购物车"
    assert _both(app, env, "plain.html", VI)[0] == "Giỏ hàng của bạn|Giỏ hàng"
    assert len(env._overlays) == 1


def test_without_an_app_context_the_base_environment_serves(app, env):
    """A thread of its own has no app context (nor a language): no overlay is chosen."""
    chosen = []
    worker = threading.Thread(target=lambda: chosen.append(env._for_current_language()))
    worker.start()
    worker.join()
    assert chosen == [env]
    assert env._for_current_language() is not env  # the app fixture's context: an overlay


def test_the_shop_serves_its_pages_from_the_language_overlays(app, client):
    assert isinstance(app.jinja_env, LocalisedEnvironment)
    assert "Giỏ hàng của bạn" in client.get("/cart/", headers=VI).get_data(as_text=True)
    assert "我的购物车" in client.get("/cart/", headers=ZH).get_data(as_text=True)
    assert "Your cart" in client.get("/cart/").get_data(as_text=True)
    with _request(app, VI):
        overlay = app.jinja_env._for_current_language()
        assert overlay is not app.jinja_env and overlay.compile_translations is not None
        assert "Giỏ hàng" in render_template("storefront/error.html", code=404, title="", message="")


def test_a_host_app_that_built_its_templates_first_keeps_them():
    host = Flask("host_app")
    host.jinja_env.globals["host"] = True  # built before the shop is added
    assert template_i18n.use_localised_templates(host) is False
    assert not isinstance(host.jinja_env, LocalisedEnvironment)
    fresh = Flask("fresh_app")
    assert template_i18n.use_localised_templates(fresh) is True
    assert isinstance(fresh.jinja_env, LocalisedEnvironment)


def test_an_edited_template_shows_in_every_language_when_reloading(app, env):
    """Flask's debug switch sets ``auto_reload`` on the app's environment after it is built
    (and after its overlays may exist); the overlays follow it, so an edited template shows
    in development in each language."""
    sources = env.loader.mapping
    sources["edited.html"] = "{{ _('Cart') }}"
    try:
        for headers, first in ((VI, "Giỏ hàng"), (ZH, "购物车")):
            with _request(app, headers):
                assert env.get_template("edited.html").render() == first
        env.auto_reload = True
        sources["edited.html"] = "{{ _('Your cart') }}"
        for headers, edited in ((VI, "Giỏ hàng của bạn"), (ZH, "我的购物车")):
            with _request(app, headers):
                assert env.get_template("edited.html").render() == edited
    finally:
        sources.pop("edited.html", None)


def test_an_import_sees_the_globals_and_reuses_its_module(app, env):
    """Template globals are the environment's, chained (Jinja's ChainMap), with their keys
    handed to Jinja's import check as a set; the imported module is built once."""
    env.globals["greeting"] = "Hi"
    with app.test_request_context("/", headers=VI):
        page = env.get_template("imports.html")
        assert page.globals.keys() == set(env.globals) and isinstance(page.globals.keys(), set)
        first = page.render()
        module = env.get_template("macros.html")._module
        assert first == "Hi, " + _runtime(env).from_string("{{ _('Cart') }}").render() and module is not None
        assert page.render() == first and env.get_template("macros.html")._module is module
        # A loaded template still reads the environment's globals as they are now.
        greets = env.get_template("greets.html")
        env.globals["greeting"] = "Hello"
        assert greets.render() == "Hello"

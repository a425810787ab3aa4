"""The plugin host: installed vs enabled, isolation of decorating hooks,
start-up validation and entry-point discovery (ARCHITECTURE.md "Plugins")."""
from __future__ import annotations

import logging
import sys
import types

import pluggy
import pytest
from flask import render_template_string
from markupsafe import Markup

from storefront import create_app, get_state
from storefront.extensions import db
from storefront.plugins import Plugin, hookimpl
from storefront.plugins.host import PluginLoadError, flatten, get_host
from storefront.plugins.slots import render_slot
from storefront.settings_models import PluginState

from . import host_fixture_plugin as fixture
from .conftest import make_test_app
from .factories import make_product

FIXTURE = "tests.host_fixture_plugin"


@pytest.fixture(scope="module")
def _plugin_apps(_app, database_url, tmp_path_factory):
    """Two apps (think: two gunicorn workers) with the fixture plugin installed."""
    apps = [make_test_app(database_url, str(tmp_path_factory.mktemp("instance")),
                          STOREFRONT_PLUGINS=[FIXTURE]) for _ in range(2)]
    yield apps
    for each in apps:
        with each.app_context():
            db.engine.dispose()


@pytest.fixture
def plugin_apps(_plugin_apps, app):  # `app` wipes the tables after the test
    fixture.reset()
    yield _plugin_apps
    fixture.reset()


def _set_enabled(enabled: bool) -> None:
    row = db.session.get(PluginState, fixture.NAME)
    if row is None:
        row = PluginState(name=fixture.NAME, enabled=enabled, settings={})
        db.session.add(row)
    row.enabled = enabled
    db.session.commit()


def _offers(a) -> list:
    with a.test_request_context("/"):
        product = make_product()
        sku = product.skus[0]
        return flatten(get_host().hook.product_offer(product=product, sku=sku, buyer=None))


def _slot(a) -> str:
    with a.test_request_context("/"):
        return str(render_template_string("[{{ slot('fixture_slot', who='<i>x</i>') }}]"))


def test_installed_plugin_is_disabled_by_default(plugin_apps):
    first, _second = plugin_apps
    host = get_host(first)
    assert fixture.NAME in host.plugins
    with first.app_context():
        assert not host.is_enabled(fixture.NAME)
    assert [o for o in _offers(first) if o.source == fixture.NAME] == []
    assert "product_offer" not in fixture.CALLS
    assert first.test_client().get("/p/hostfixture/hello").status_code == 404
    assert _slot(first) == "[]"
    assert not [c for c in fixture.CALLS if c.startswith("template_slot")]


def test_enabling_in_one_app_takes_effect_in_another_on_next_request(plugin_apps):
    first, second = plugin_apps
    client = second.test_client()
    assert client.get("/p/hostfixture/hello").status_code == 404  # second has read "disabled"

    with first.app_context():
        _set_enabled(True)

    response = client.get("/p/hostfixture/hello")
    assert response.status_code == 200
    assert b"hello from the fixture plugin" in response.data
    offers = [o for o in _offers(second) if o.source == fixture.NAME]
    assert [b.text for b in offers[0].badges] == ["Fixture badge"]
    # Plugin markup is kept, the context value it appends is escaped.
    assert _slot(second) == "[<b class='fixture'>fixture slot</b> &lt;i&gt;x&lt;/i&gt;]"

    with first.app_context():
        _set_enabled(False)
    assert client.get("/p/hostfixture/hello").status_code == 404
    assert _slot(second) == "[]"


def test_decorating_hook_failure_is_logged_and_slot_renders_empty(plugin_apps, caplog):
    first, _ = plugin_apps
    with first.app_context():
        _set_enabled(True)
    fixture.FAIL.add("template_slot")
    with caplog.at_level(logging.ERROR):
        assert _slot(first) == "[]"
    assert "template_slot:fixture_slot" in fixture.CALLS
    assert any("hostfixture" in r.getMessage() and "template_slot" in r.getMessage()
               for r in caplog.records)


def test_call_safely_skips_only_the_failing_plugin(plugin_apps, caplog):
    first, _ = plugin_apps
    with first.app_context():
        _set_enabled(True)
    fixture.FAIL.add("product_offer")
    with first.test_request_context("/"):
        product = make_product()
        with caplog.at_level(logging.ERROR):
            results = get_host().call_safely("product_offer", product=product,
                                             sku=product.skus[0], buyer=None)
        assert results == []
        # A hook that must not be swallowed (money, stock) still raises when called directly.
        with pytest.raises(RuntimeError, match="product_offer broke"):
            get_host().hook.product_offer(product=product, sku=product.skus[0], buyer=None)
    assert any("product_offer" in r.getMessage() for r in caplog.records)


def test_render_slot_escapes_a_lone_plain_answer_and_keeps_a_lone_markup_one(plugin_apps):
    first, _ = plugin_apps
    with first.app_context():
        _set_enabled(True)
    with first.test_request_context("/"):
        text = render_slot("fixture_text", text="<script>x</script>")
        assert text == "&lt;script&gt;x&lt;/script&gt;" and isinstance(text, Markup)
        markup = render_slot("fixture_slot", who="<i>x</i>")
        assert markup == "<b class='fixture'>fixture slot</b> &lt;i&gt;x&lt;/i&gt;" and isinstance(markup, Markup)


def test_render_slot_without_enabled_plugins_is_empty_markup(plugin_apps):
    first, _ = plugin_apps
    with first.test_request_context("/"):
        assert render_slot("fixture_slot", who="x") == ""


def _fake_module(monkeypatch, name: str, manifest: Plugin) -> str:
    module = types.ModuleType(name)
    module.plugin = manifest
    monkeypatch.setitem(sys.modules, name, module)
    return name


def test_misnamed_hookimpl_fails_at_start_up(app, database_url, tmp_path, monkeypatch):
    class Typo:
        @hookimpl
        def product_ofer(self, product, sku, buyer):  # one "f": matches no hookspec
            return None

    module = _fake_module(monkeypatch, "tests._typo_plugin",
                          Plugin(name="typo", title="Typo", version="1", hooks=Typo()))
    with pytest.raises(pluggy.PluginValidationError):
        make_test_app(database_url, str(tmp_path), STOREFRONT_PLUGINS=[module])


def test_wrong_hook_arguments_fail_at_start_up(app, database_url, tmp_path, monkeypatch):
    class Extra:
        @hookimpl
        def product_offer(self, product, sku, buyer, colour):
            return None

    module = _fake_module(monkeypatch, "tests._extra_arg_plugin",
                          Plugin(name="extra", title="Extra", version="1", hooks=Extra()))
    with pytest.raises(pluggy.PluginValidationError):
        make_test_app(database_url, str(tmp_path), STOREFRONT_PLUGINS=[module])


def test_module_without_manifest_is_refused(app, database_url, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tests._no_manifest", types.ModuleType("tests._no_manifest"))
    with pytest.raises(PluginLoadError):
        make_test_app(database_url, str(tmp_path), STOREFRONT_PLUGINS=["tests._no_manifest"])


class _EntryPoint:
    def __init__(self, name: str, target) -> None:
        self.name = name
        self._target = target
        self.loaded = 0

    def load(self):
        self.loaded += 1
        return self._target


def test_entry_point_plugins_are_discovered(app, database_url, tmp_path, monkeypatch):
    class ThirdParty:
        @hookimpl
        def template_slot(self, name, context):
            return "third-party" if name == "tp" else None

    manifest = Plugin(name="thirdparty", title="Third party", version="2.0", hooks=ThirdParty(),
                      enabled_by_default=True)
    packaged = types.ModuleType("thirdparty_pkg")
    packaged.plugin = manifest
    ep = _EntryPoint("thirdparty", packaged)
    groups = []

    def fake_entry_points(*, group):
        groups.append(group)
        return [ep]

    monkeypatch.setattr("storefront.plugins.host.entry_points", fake_entry_points)
    shop = make_test_app(database_url, str(tmp_path), STOREFRONT_LOAD_ENTRY_POINTS=True)
    assert groups == ["storefront.plugins"]
    assert ep.loaded == 1
    host = get_host(shop)
    assert host.plugins["thirdparty"] is manifest
    with shop.test_request_context("/"):
        assert render_slot("tp") == "third-party"  # enabled_by_default, no state row

    off = make_test_app(database_url, str(tmp_path / "off"), STOREFRONT_LOAD_ENTRY_POINTS=False)
    assert "thirdparty" not in get_host(off).plugins
    for each in (shop, off):
        with each.app_context():
            db.engine.dispose()


def test_each_app_has_its_own_plugin_manager(plugin_apps, app):
    first, second = plugin_apps
    assert get_state(first).host is not get_state(second).host
    assert get_host(first).pm is not get_host(second).pm
    assert fixture.NAME not in get_host(app).plugins  # the default app did not install it


def test_installing_a_plugin_twice_is_refused(app, database_url, tmp_path):
    with pytest.raises(PluginLoadError):
        make_test_app(database_url, str(tmp_path), STOREFRONT_PLUGINS=[FIXTURE, FIXTURE])


def test_create_app_is_usable_without_plugins(database_url, tmp_path, app):
    shop = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": database_url,
                       "STOREFRONT_PLUGINS": [], "STOREFRONT_LOAD_ENTRY_POINTS": False},
                      instance_path=str(tmp_path))
    assert get_host(shop).plugins == {}
    with shop.app_context():
        db.engine.dispose()


def test_hooks_split_over_several_modules_share_one_switch(app, database_url, tmp_path, monkeypatch):
    class Cases:
        @hookimpl
        def template_slot(self, name, context):
            return "cases" if name == "split" else None

    class Money:
        @hookimpl
        def template_slot(self, name, context):
            return "money" if name == "split" else None

    module = _fake_module(monkeypatch, "tests._split_plugin",
                          Plugin(name="split", title="Split", version="1", hooks=[Cases(), Money()]))
    shop = make_test_app(database_url, str(tmp_path), STOREFRONT_PLUGINS=[module])
    try:
        with shop.test_request_context("/"):
            assert render_slot("split") == ""  # disabled by default: neither module answers
            db.session.add(PluginState(name="split", enabled=True, settings={}))
            db.session.commit()
            get_host(shop).forget_states()
            assert sorted(str(render_slot("split")).replace("cases", " cases ").split()) == ["cases", "money"]
    finally:
        with shop.app_context():
            db.session.execute(db.delete(PluginState).where(PluginState.name == "split"))
            db.session.commit()
            db.engine.dispose()

"""Plugins page: enable/disable without restart, in every worker, with settings and audit."""
from __future__ import annotations

import pluggy
import pytest
from flask import render_template_string

from storefront.audit.models import AuditEntry
from storefront.extensions import db
from storefront.plugins.host import get_host
from storefront.settings_models import PluginState
from tests.conftest import csrf_token_from, make_test_app
from tests.factories import login, make_staff
from tests.plugins_fixture.sample import hooks as sample_hooks


def _owner_client(shop):
    with shop.app_context():
        owner = make_staff(role="owner")
        client = shop.test_client()
        login(client, owner)
    return client


def _slot(shop) -> str:
    with shop.test_request_context("/"):
        return render_template_string("{{ slot('sample_slot') }}")


def test_plugin_is_listed(plugin_apps):
    a, _b = plugin_apps
    html = _owner_client(a).get("/admin/plugins").get_data(as_text=True)
    assert "Sample plugin" in html and "1.2.3" in html and "A plugin used by the tests." in html
    assert "Disabled" in html
    assert 'name="sample-greeting"' in html and 'value="Hello"' in html


def test_toggle_in_one_worker_takes_effect_in_the_other(plugin_apps):
    a, b = plugin_apps
    admin = _owner_client(a)
    visitor = b.test_client()

    # Disabled by default: route 404, slot empty, hooks not called.
    assert visitor.get("/p/sample/hello").status_code == 404
    sample_hooks.CALLS.clear()
    assert _slot(b) == ""
    with b.test_request_context("/"):
        assert get_host().hook.product_offer(product=None, sku=None, buyer=None) == []
    assert sample_hooks.CALLS == []

    response = admin.post("/admin/plugins/sample/enable")
    assert response.status_code == 302
    response = visitor.get("/p/sample/hello")
    assert response.status_code == 200
    assert "SAMPLE-SLOT" in response.get_data(as_text=True)
    assert "SAMPLE-SLOT" in _slot(b)
    with b.test_request_context("/"):
        offers = get_host().hook.product_offer(product=None, sku=None, buyer=None)
    assert [o.source for o in offers] == ["sample"]

    admin.post("/admin/plugins/sample/disable")
    sample_hooks.CALLS.clear()
    assert visitor.get("/p/sample/hello").status_code == 404
    assert _slot(b) == ""
    with b.test_request_context("/"):
        assert get_host().hook.product_offer(product=None, sku=None, buyer=None) == []
    assert sample_hooks.CALLS == []

    with a.app_context():
        state = db.session.get(PluginState, "sample")
        assert state.enabled is False and state.version == 2
        actions = [e.action for e in db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars()]
    assert actions == ["plugin.enable", "plugin.disable"]


def test_settings_are_saved_and_used_by_other_workers(plugin_apps):
    a, b = plugin_apps
    admin = _owner_client(a)
    admin.post("/admin/plugins/sample/enable")
    response = admin.post("/admin/plugins/sample/settings",
                          data={"sample-greeting": "Ni hao", "sample-threshold": "7"})
    assert response.status_code == 302
    assert "Ni hao" in b.test_client().get("/p/sample/hello").get_data(as_text=True)
    with a.app_context():
        state = db.session.get(PluginState, "sample")
        assert state.settings == {"greeting": "Ni hao", "threshold": 7}
        assert state.version == 2
        entry = db.session.execute(db.select(AuditEntry).filter_by(action="plugin.settings")).scalar_one()
        assert entry.before["settings"] == {"greeting": "Hello", "threshold": 5}
        assert entry.after["settings"] == {"greeting": "Ni hao", "threshold": 7}
        assert entry.object_id == "sample"
    html = admin.get("/admin/plugins").get_data(as_text=True)
    assert 'value="Ni hao"' in html


def test_settings_errors_are_shown_next_to_the_field(plugin_apps):
    a, _b = plugin_apps
    admin = _owner_client(a)
    response = admin.post("/admin/plugins/sample/settings",
                          data={"sample-greeting": "", "sample-threshold": "1000"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="sample-greeting-error"' in html
    assert 'id="sample-threshold-error"' in html
    with a.app_context():
        assert db.session.get(PluginState, "sample") is None


def test_unknown_plugin_is_404(plugin_apps):
    a, _b = plugin_apps
    admin = _owner_client(a)
    assert admin.post("/admin/plugins/nope/enable").status_code == 404
    assert admin.post("/admin/plugins/nope/settings").status_code == 404


def test_buyer_and_staff_cannot_toggle(plugin_apps):
    a, _b = plugin_apps
    with a.app_context():
        buyer = make_staff(role="buyer")
        staff = make_staff()
        for user in (buyer, staff):
            client = a.test_client()
            login(client, user)
            assert client.get("/admin/plugins").status_code == 403
            assert client.post("/admin/plugins/sample/enable").status_code == 403
        assert db.session.get(PluginState, "sample") is None


def test_toggle_needs_csrf(app, database_url, instance_dir):
    shop = make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=["tests.plugins_fixture.sample"],
                         WTF_CSRF_ENABLED=True)
    with shop.app_context():
        owner = make_staff(role="owner")
        client = shop.test_client()
        page = client.get("/account/login").get_data(as_text=True)
        client.post("/account/login", data={"email": owner.email, "password": "correct horse battery",
                                            "csrf_token": csrf_token_from(page)})
    assert client.post("/admin/plugins/sample/enable").status_code == 400
    with shop.app_context():
        assert db.session.get(PluginState, "sample") is None
    token = csrf_token_from(client.get("/admin/plugins").get_data(as_text=True))
    assert client.post("/admin/plugins/sample/enable", data={"csrf_token": token}).status_code == 302
    with shop.app_context():
        assert db.session.get(PluginState, "sample").enabled is True


def test_misnamed_hookimpl_fails_app_creation(app, database_url, instance_dir):
    with pytest.raises(pluggy.PluginValidationError):
        make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=["tests.plugins_fixture.broken"])


def test_plain_wtforms_settings_form_gets_csrf(app, database_url, instance_dir):
    shop = make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=["tests.plugins_fixture.faulty"],
                         WTF_CSRF_ENABLED=True)
    with shop.app_context():
        owner = make_staff(role="owner")
        client = shop.test_client()
        page = client.get("/account/login").get_data(as_text=True)
        client.post("/account/login", data={"email": owner.email, "password": "correct horse battery",
                                            "csrf_token": csrf_token_from(page)})
    html = client.get("/admin/plugins").get_data(as_text=True)
    assert 'name="faulty-csrf_token"' in html and 'value="plain"' in html
    assert client.post("/admin/plugins/faulty/settings", data={"faulty-label": "x"}).status_code == 400
    with shop.app_context():
        assert db.session.get(PluginState, "faulty") is None
    token = csrf_token_from(html)
    response = client.post("/admin/plugins/faulty/settings", data={"faulty-label": "Shiny", "csrf_token": token})
    assert response.status_code == 302
    with shop.app_context():
        assert db.session.get(PluginState, "faulty").settings == {"label": "Shiny"}

from storefront.plugins.host import get_host


def test_plugin_loads_with_both_hook_modules(app, enabled):
    host = get_host(app)
    assert "aftersales" in host.plugins
    assert host.is_enabled("aftersales")


def test_openapi_lists_the_case_endpoints(app, client, enabled):
    spec = client.get("/api/v1/openapi.json").get_json() or {}
    paths = spec.get("paths", {})
    assert "/api/v1/aftersales/cases" in paths
    assert "/api/v1/admin/aftersales/cases/{number}/refund" in paths


def test_demo_data_adds_cases_in_several_states(app, enabled):
    from plugins.aftersales.demo import add_demo_cases
    from plugins.aftersales.models import Case, CaseEvent
    from storefront.clock import utcnow
    from storefront.extensions import db

    from .conftest import make_user, shipped_order

    buyer = make_user()
    orders = [shipped_order(buyer) for _ in range(8)]
    add_demo_cases(utcnow())
    db.session.commit()
    cases = db.session.query(Case).all()
    assert len(cases) == 8
    assert {c.status for c in cases} >= {"requested", "awaiting_return", "returning", "arrived", "inspected",
                                         "refunded"}
    assert {c.order_id for c in cases} <= {o.id for o in orders}
    assert db.session.query(CaseEvent).count() >= len(cases)


def test_demo_data_without_orders_adds_nothing(app, enabled):
    from plugins.aftersales.demo import add_demo_cases
    from plugins.aftersales.models import Case
    from storefront.clock import utcnow
    from storefront.extensions import db

    add_demo_cases(utcnow())
    db.session.commit()
    assert db.session.query(Case).count() == 0

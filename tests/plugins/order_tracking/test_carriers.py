"""Carrier registry: preset, name matching, URL encoding, staff CRUD and permissions."""
from __future__ import annotations

from plugins.order_tracking import carriers
from plugins.order_tracking.models import Carrier
from storefront.extensions import db
from tests.factories import login

NAMES = ["SF Express", "ZTO", "YTO", "STO", "Yunda", "JD Logistics", "EMS", "J&T Express",
         "Giao Hàng Nhanh", "Viettel Post"]


def test_preset_covers_the_shop_carriers_with_tracking_templates(app):
    listed = carriers.list_carriers()
    assert sorted(c.name for c in listed) == sorted(NAMES)
    assert all("{tracking}" in c.tracking_url and c.tracking_url.startswith("https://") for c in listed)


def test_match_by_name_is_case_insensitive(app):
    assert carriers.carrier_for_name("sf express").code == "sf"
    assert carriers.carrier_for_name("giao hàng nhanh").code == "ghn"
    assert carriers.carrier_for_name("Nope") is None
    assert carriers.carrier_for_name("") is None


def test_tracking_number_is_url_encoded(app):
    sf = carriers.carrier_for_code("sf")
    url = carriers.tracking_url(sf, "AB 1/2?x=<y>&z")
    assert url.endswith("AB%201%2F2%3Fx%3D%3Cy%3E%26z")
    assert carriers.tracking_url(None, "X") is None


def test_seed_is_idempotent(app):
    assert carriers.seed_preset() == len(NAMES)
    assert carriers.seed_preset() == 0
    assert db.session.query(Carrier).count() == len(NAMES)


def test_two_first_shipments_at_once_seed_once(app):
    """The preset is seeded by a shop's first shipment: two at the same moment both find the
    registry empty, and the second's rows hit the first's unique codes. That one must simply
    find the preset there (it raised, and its order got no parcel)."""
    from tests.races import run_each_holding_its_first

    results = run_each_holding_its_first(app, "INSERT INTO order_tracking_carriers",
                                         [carriers.seed_preset, carriers.seed_preset])
    assert sorted(results) == [0, len(NAMES)], results
    db.session.rollback()
    assert db.session.query(Carrier).count() == len(NAMES)


def test_deleting_the_last_two_carriers_at_once_keeps_one(app):
    from tests.races import run_each_holding_its_first

    carriers.seed_preset()
    rows = carriers.list_carriers()
    for row in rows[2:]:
        carriers.delete_carrier(row.id)
    last = [row.id for row in rows[:2]]
    results = run_each_holding_its_first(app, "DELETE FROM order_tracking_carriers",
                                         [lambda: carriers.delete_carrier(last[0]),
                                          lambda: carriers.delete_carrier(last[1])])
    assert sum(isinstance(r, Exception) for r in results) == 1, results
    db.session.rollback()
    assert db.session.query(Carrier).count() == 1


def test_staff_create_edit_delete(app, client, enabled, staff):
    login(client, staff)
    r = client.post("/admin/tracking/carriers/new", data={
        "name": "Best Express", "code": "best", "tracking_url": "https://example.com/t/{tracking}",
        "transit_days": "4", "active": "y"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    row = db.session.query(Carrier).filter_by(code="best").one()
    row_id = row.id
    assert db.session.query(Carrier).count() == len(NAMES) + 1  # the preset was written first
    r = client.post(f"/admin/tracking/carriers/{row.id}/edit", data={
        "name": "Best Express", "code": "best", "tracking_url": "https://example.com/t/{tracking}",
        "transit_days": "5", "active": "y"})
    assert r.status_code == 302
    db.session.rollback()
    assert db.session.get(Carrier, row_id).transit_days == 5
    assert client.get("/admin/tracking/carriers").status_code == 200
    r = client.post(f"/admin/tracking/carriers/{row_id}/delete")
    assert r.status_code == 302
    db.session.rollback()
    assert db.session.get(Carrier, row_id) is None


def test_bad_input_shows_field_errors(app, client, enabled, staff):
    login(client, staff)
    r = client.post("/admin/tracking/carriers/new", data={
        "name": "X", "code": "BAD CODE!", "tracking_url": "http://no-placeholder", "transit_days": "4"})
    assert r.status_code == 422
    assert "lower-case" in r.get_data(as_text=True)
    r = client.post("/admin/tracking/carriers/new", data={
        "name": "X", "code": "xx", "tracking_url": "http://no-placeholder", "transit_days": "4"})
    assert r.status_code == 422 and "{tracking}" in r.get_data(as_text=True)
    r = client.post("/admin/tracking/carriers/new", data={
        "name": "sf express", "code": "sf2", "tracking_url": "", "transit_days": "4"})
    assert r.status_code == 422 and "already uses" in r.get_data(as_text=True)
    assert db.session.query(Carrier).filter(Carrier.code.in_(["bad code!", "xx", "sf2"])).count() == 0


def test_carrier_pages_need_staff(app, client, enabled, buyer):
    assert client.get("/admin/tracking/carriers").status_code in (302, 401, 403)
    login(client, buyer)
    assert client.get("/admin/tracking/carriers").status_code in (403, 404)
    assert client.post("/admin/tracking/carriers/preset").status_code in (403, 404)
    assert db.session.query(Carrier).count() == 0


def test_disabled_plugin_pages_answer_404(app, client, staff):
    login(client, staff)
    assert client.get("/admin/tracking/carriers").status_code == 404


def test_a_request_reads_the_registry_once_and_again_after_each_write(app):
    from tests.perf.conftest import count_queries

    with app.test_request_context("/"):
        with count_queries() as seen:
            assert carriers.carrier_for_name("SF Express").code == "sf"
            assert carriers.carrier_for_code("zto").name == "ZTO"
            assert len(carriers.list_carriers()) == len(NAMES)
        assert len(seen) == 1  # the preset, from one read of the empty registry
        carriers.create_carrier({"code": "best", "name": "Best Express", "tracking_url": "",
                                 "transit_days": 3, "active": True})
        assert carriers.carrier_for_code("best").name == "Best Express"  # seeded and created, seen
        carriers.create_carrier({"code": "kerry", "name": "Kerry Express", "tracking_url": "",
                                 "transit_days": 2, "active": True})
        assert carriers.carrier_for_code("kerry").name == "Kerry Express"
        row = carriers.carrier_for_code("best")
        carriers.update_carrier(row.id, {"code": "best", "name": "Best Kuaidi", "tracking_url": "",
                                         "transit_days": 3, "active": True})
        assert carriers.carrier_for_name("Best Kuaidi").code == "best"
        carriers.delete_carrier(row.id)
        assert carriers.carrier_for_code("best") is None
        assert len(carriers.list_carriers()) == len(NAMES) + 1

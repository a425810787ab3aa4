"""Registries: wrong-shipment log, lost/damaged-parcel log, quality flags; pages, CSV, API."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from plugins.aftersales import registries
from plugins.aftersales.models import Case, CaseLine
from storefront.clock import utcnow
from storefront.errors import Conflict, Forbidden, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.orders.status import OrderStatus
from tests.orders.factories import make_order
from tests.plugins.aftersales.conftest import bearer, client_for, new_client, set_enabled

_n = itertools.count(1)


def make_case(order, reason: str, *, kind: str = "refund_shipped", status: str = "requested", created_at=None,
              lines: bool = True, **values) -> Case:
    """A case row straight through the model (the cases side's services are not under test here)."""
    created_at = created_at or utcnow()
    case = Case(number=f"AS{next(_n):08d}", order_id=order.id, user_id=order.user_id, kind=kind, status=status,
                reason=reason, description="Shirt arrived torn", amount_requested=1000, currency=order.currency,
                created_at=created_at, updated_at=created_at, **values)
    if lines:
        case.lines = [CaseLine(order_line_id=line.id, quantity=line.quantity, amount=line.paid_amount)
                      for line in order.lines]
    db.session.add(case)
    db.session.commit()
    return case


# -- wrong shipments ---------------------------------------------------------------------
def test_log_wrong_shipment_from_a_case(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.SHIPPED)
    case = make_case(order, "wrong_item")
    assert [c.id for c in registries.case_candidates("wrong")] == [case.id]
    data = registries.prefill("wrong", case.id)
    assert data["order_number"] == order.number and "x1" in data["expected_item"]
    row = registries.log_wrong_shipment(staff, {**data, "sent_item": "Blue L", "quantity": 1,
                                                "resolution": "reship", "cost": "12.00"})
    assert (row.case_id, row.cost, row.resolution) == (case.id, 1200, "reship")
    assert registries.case_candidates("wrong") == []
    with pytest.raises(Conflict) as err:
        registries.log_wrong_shipment(staff, {**data, "quantity": 1})
    assert err.value.code == "already_logged"


@pytest.mark.parametrize("changes,field", [
    ({"order_number": ""}, "order_number"), ({"order_number": "NOPE"}, "order_number"),
    ({"quantity": 0}, "quantity"), ({"resolution": "burn"}, "resolution"), ({"cost": "-1"}, "cost"),
    ({"cost": "1.234"}, "cost"), ({"note": "x" * 501}, "note"), ({"case_id": "abc"}, "case_id")])
def test_wrong_shipment_validation(app, enabled, buyer, staff, changes, field):
    order = make_order(buyer, OrderStatus.SHIPPED)
    data = {"order_number": order.number, "quantity": 1, "resolution": "reship", **changes}
    with pytest.raises(ValidationFailed) as err:
        registries.log_wrong_shipment(staff, data)
    assert err.value.field == field


def test_case_of_another_order_or_reason_is_refused(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.SHIPPED)
    other = make_order(buyer, OrderStatus.SHIPPED)
    with pytest.raises(ValidationFailed):
        registries.log_wrong_shipment(staff, {"order_number": order.number, "quantity": 1,
                                              "case_id": make_case(other, "wrong_item").id})
    with pytest.raises(ValidationFailed):
        registries.log_wrong_shipment(staff, {"order_number": order.number, "quantity": 1,
                                              "case_id": make_case(order, "quality").id})


def test_only_staff_log(app, enabled, buyer):
    order = make_order(buyer, OrderStatus.SHIPPED)
    with pytest.raises(Forbidden):
        registries.log_wrong_shipment(buyer, {"order_number": order.number, "quantity": 1})


# -- parcels ------------------------------------------------------------------------------
def test_parcel_claim_from_case_with_month_totals(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.SHIPPED)
    case = make_case(order, "not_received", amount_refunded=4000)
    data = registries.prefill("parcel", case.id)
    assert data["kind"] == "lost" and data["carrier"] == "SF Express" and data["paid_to_buyer"] == 4000
    row = registries.log_parcel_claim(staff, {**data, "claimed_from_carrier": "40"})
    assert (row.paid_to_buyer, row.claimed_from_carrier, row.status) == (4000, 4000, "open")
    other = make_order(buyer, OrderStatus.SHIPPED)
    registries.log_parcel_claim(staff, {"order_number": other.number, "kind": "damaged", "paid_to_buyer": 1500})
    rows, month, totals = registries.parcel_claims()
    assert len(rows) == 2 and month == (utcnow() + timedelta(hours=8)).strftime("%Y-%m")
    assert totals == {"SF Express": {"count": 2, "paid_to_buyer": 5500, "claimed": 4000}}
    assert registries.set_parcel_status(staff, row.id, "settled").status == "settled"
    with pytest.raises(ValidationFailed):
        registries.set_parcel_status(staff, row.id, "lost-in-space")
    with pytest.raises(NotFound):
        registries.set_parcel_status(staff, 999999, "settled")
    last_year, _label, _totals = registries.parcel_claims("2001-01")
    assert last_year == []


def test_month_must_be_well_formed(app, enabled):
    with pytest.raises(ValidationFailed):
        registries.month_bounds("2026-13", utcnow())


def test_parcel_kind_is_required(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.SHIPPED)
    with pytest.raises(ValidationFailed) as err:
        registries.log_parcel_claim(staff, {"order_number": order.number, "kind": "stolen"})
    assert err.value.field == "kind"


# -- quality flags -------------------------------------------------------------------------
def test_products_with_n_quality_complaints_in_30_days_are_flagged(app, enabled, buyer):
    from tests.factories import make_product

    bad = make_product(name="Leaky mug", price=3000, stock=20)
    fine = make_product(name="Good mug", price=3000, stock=20)
    for _ in range(3):
        make_case(make_order(buyer, OrderStatus.SHIPPED, items=[(bad.skus[0], 1)]), "quality")
    make_case(make_order(buyer, OrderStatus.SHIPPED, items=[(bad.skus[0], 1)]), "quality",
              created_at=utcnow() - timedelta(days=31))  # too old
    make_case(make_order(buyer, OrderStatus.SHIPPED, items=[(fine.skus[0], 1)]), "damaged")  # not quality
    for _ in range(2):
        make_case(make_order(buyer, OrderStatus.SHIPPED, items=[(fine.skus[0], 1)]), "quality")
    flags = registries.quality_flags(utcnow(), 3)
    assert [(f["product_id"], f["name"], f["complaints"]) for f in flags] == [(bad.id, "Leaky mug", 3)]
    assert {f["product_id"] for f in registries.quality_flags(utcnow(), 2)} == {bad.id, fine.id}


# -- pages and CSV ------------------------------------------------------------------------------
def test_registry_pages_and_csv(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.SHIPPED)
    case = make_case(order, "wrong_item")
    c = client_for(app, staff)
    assert case.number in c.get("/admin/aftersales/money/registries").get_data(as_text=True)
    form = c.get(f"/admin/aftersales/money/registries/wrong-shipments?case_id={case.id}").get_data(as_text=True)
    assert f'value="{order.number}"' in form
    response = c.post("/admin/aftersales/money/registries/wrong-shipments",
                      data={"order_number": order.number, "case_id": str(case.id), "expected_item": "Black M",
                            "sent_item": "=HYPERLINK(\"http://evil\")", "quantity": "1", "resolution": "reship",
                            "cost": "8.5", "note": ""})
    assert response.status_code == 302
    csv_text = c.get("/admin/aftersales/money/registries/wrong-shipments.csv").get_data(as_text=True)
    assert order.number in csv_text and "8.50" in csv_text
    assert "'=HYPERLINK" in csv_text  # a spreadsheet must not run it
    bad = c.post("/admin/aftersales/money/registries/wrong-shipments",
                 data={"order_number": "NOPE", "quantity": "1", "resolution": "reship"})
    assert bad.status_code == 422 and "No order with this number" in bad.get_data(as_text=True)
    assert c.get("/admin/aftersales/money/registries/wrong-shipments?month=junk").status_code == 400


def test_parcel_pages_and_csv(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.SHIPPED)
    c = client_for(app, staff)
    response = c.post("/admin/aftersales/money/registries/parcels",
                      data={"order_number": order.number, "kind": "damaged", "paid_to_buyer": "15",
                            "claimed_from_carrier": "15", "carrier": "", "tracking_number": "", "note": ""})
    assert response.status_code == 302
    page = c.get("/admin/aftersales/money/registries/parcels").get_data(as_text=True)
    assert order.number in page and "15.00" in page
    [claim] = registries.parcel_claims()[0]
    assert c.post(f"/admin/aftersales/money/registries/parcels/{claim.id}/status",
                  data={"status": "claimed"}).status_code == 302
    db.session.expire_all()
    assert registries.parcel_claims()[0][0].status == "claimed"
    assert c.post("/admin/aftersales/money/registries/parcels/999999/status",
                  data={"status": "claimed"}).status_code == 404
    csv_text = c.get("/admin/aftersales/money/registries/parcels.csv").get_data(as_text=True)
    assert "SF Express" in csv_text and "claimed" in csv_text
    assert c.get("/admin/aftersales/money/registries/quality.csv").status_code == 200


@pytest.mark.parametrize("path", ["/admin/aftersales/money/registries",
                                  "/admin/aftersales/money/registries/wrong-shipments",
                                  "/admin/aftersales/money/registries/parcels.csv",
                                  "/admin/aftersales/money/metrics"])
def test_registry_pages_refuse_buyers_and_guests(app, enabled, buyer, path):
    assert client_for(app, buyer).get(path).status_code == 403
    assert new_client(app).get(path).status_code == 302


def test_pages_are_404_while_disabled(app, staff):
    set_enabled(False)
    assert client_for(app, staff).get("/admin/aftersales/money/registries").status_code == 404


def test_registry_forms_need_csrf(app, enabled, staff, secure_client):
    from tests.factories import sign_in

    sign_in(secure_client, staff)
    assert secure_client.post("/admin/aftersales/money/registries/parcels",
                              data={"order_number": "X", "kind": "lost"}).status_code == 400


# -- API ----------------------------------------------------------------------------------
def test_registry_api(app, enabled, buyer, staff):
    order = make_order(buyer, OrderStatus.SHIPPED)
    headers = bearer(staff)
    c = new_client(app)
    made = c.post("/api/v1/aftersales/money/registries/wrong-shipments", headers=headers,
                  json={"order_number": order.number, "sent_item": "Red S", "cost": 500})
    assert made.status_code == 201 and made.get_json()["cost"] == 500
    listed = c.get("/api/v1/aftersales/money/registries/wrong-shipments", headers=headers).get_json()
    assert [r["order_number"] for r in listed] == [order.number]
    bad = c.post("/api/v1/aftersales/money/registries/parcels", headers=headers,
                 json={"order_number": order.number, "kind": "stolen"})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "kind"
    claim = c.post("/api/v1/aftersales/money/registries/parcels", headers=headers,
                   json={"order_number": order.number, "kind": "lost", "paid_to_buyer": 6000}).get_json()
    moved = c.post(f"/api/v1/aftersales/money/registries/parcels/{claim['id']}/status", headers=headers,
                   json={"status": "settled"})
    assert moved.get_json()["status"] == "settled"
    assert c.get("/api/v1/aftersales/money/registries/parcels?month=2026-99", headers=headers).status_code == 422
    assert c.get("/api/v1/aftersales/money/registries/quality-flags", headers=headers).get_json() == []
    assert c.get("/api/v1/aftersales/money/registries/parcels", headers=bearer(buyer)).status_code == 403
    assert c.get("/api/v1/aftersales/money/registries/parcels").status_code == 401

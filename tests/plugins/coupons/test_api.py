"""JSON API: buyer endpoints, staff CRUD, errors, permissions, OpenAPI document."""
from __future__ import annotations

from plugins.coupons.models import Coupon, WalletCoupon
from storefront.extensions import db
from tests.checkout.helpers import fresh
from tests.factories import make_product, make_user

from .conftest import bearer, fill_cart, make_coupon, set_state, sign_in


def test_apply_remove_and_wallet(app, enabled, web, buyer):
    make_coupon(name="Double 11", code="DOUBLE11", kind="percent", percent_bp=1000, max_discount=5000)
    fill_cart(app, buyer, (make_product(price=20000).skus[0], 1))
    auth = bearer(buyer)
    response = web.post("/api/v1/coupons/apply", json={"code": "ｄｏｕｂｌｅ11"}, headers=auth)
    assert response.status_code == 200 and response.json["name"] == "Double 11"
    cart = web.get("/api/v1/cart", headers=auth)
    assert "'source': 'coupons'" in str(cart.json) and "'amount': 2000" in str(cart.json)
    bad = web.post("/api/v1/coupons/apply", json={"code": "NOPE"}, headers=auth)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "coupon_code_unknown"
    assert web.delete("/api/v1/coupons/apply", headers=auth).status_code == 204
    assert web.get("/api/v1/coupons/wallet", headers=auth).json == []


def test_claim_and_wallet(app, enabled, web, buyer):
    coupon = make_coupon(name="Gift", claimable=True, claim_quota=1, per_buyer_limit=1)
    auth = bearer(buyer)
    assert [c["name"] for c in web.get("/api/v1/coupons/claimable").json] == ["Gift"]
    created = web.post("/api/v1/coupons/claim", json={"coupon_id": coupon.id}, headers=auth)
    assert created.status_code == 201 and created.json["coupon"]["name"] == "Gift"
    other = make_user()
    out = web.post("/api/v1/coupons/claim", json={"coupon_id": coupon.id}, headers=bearer(other))
    assert out.status_code == 409 and out.json["error"]["code"] == "coupon_claimed_out"
    wallet = web.get("/api/v1/coupons/wallet", headers=auth).json
    assert len(wallet) == 1 and wallet[0]["used"] is False
    # another buyer cannot use my wallet entry
    fill_cart(app, other, (make_product(price=5000).skus[0], 1))
    forged = web.post("/api/v1/coupons/use", json={"wallet_id": wallet[0]["id"]}, headers=bearer(other))
    assert forged.status_code == 404


def test_buyer_endpoints_need_a_token(app, enabled, web):
    assert web.post("/api/v1/coupons/apply", json={"code": "X"}).status_code == 401
    assert web.get("/api/v1/coupons/wallet").status_code == 401
    assert web.post("/api/v1/coupons/claim", json={"coupon_id": 1}).status_code == 401


def test_bad_input_is_422(app, enabled, web, buyer):
    auth = bearer(buyer)
    assert web.post("/api/v1/coupons/claim", json={"coupon_id": "x"}, headers=auth).status_code == 422
    assert web.post("/api/v1/coupons/apply", json={}, headers=auth).status_code == 422
    for huge in (2**63, 2**70, 0, -1):  # beyond BIGINT used to overflow the driver: a 500
        assert web.post("/api/v1/coupons/claim", json={"coupon_id": huge}, headers=auth).status_code == 422
        assert web.post("/api/v1/coupons/use", json={"wallet_id": huge}, headers=auth).status_code == 422
    sign_in(web, buyer)
    assert web.post("/p/coupons/claim", data={"coupon_id": str(2**70)}).status_code == 303  # not found, flashed


def test_huge_ids_in_admin_paths_are_404(app, enabled, web, staff):
    auth = bearer(staff)
    assert web.get(f"/api/v1/admin/coupons/{2**70}", headers=auth).status_code == 404
    assert web.patch(f"/api/v1/admin/coupons/{2**63}", json={"name": "x"}, headers=auth).status_code == 404


def test_staff_crud(app, enabled, web, staff, buyer):
    auth = bearer(staff)
    created = web.post("/api/v1/admin/coupons/", json={"name": "Ten", "kind": "fixed", "amount": 1000,
                                                       "code": "ten api", "total_quantity": 10}, headers=auth)
    assert created.status_code == 201 and created.json["code"] == "TENAPI"
    cid = created.json["id"]
    bad = web.post("/api/v1/admin/coupons/", json={"name": "Bad", "kind": "percent", "percent_bp": 0}, headers=auth)
    assert bad.status_code == 422 and bad.json["error"]["field"] == "percent_bp"
    dup_code = web.post("/api/v1/admin/coupons/", json={"name": "Dup", "kind": "fixed", "amount": 1, "code": "TENAPI"},
                        headers=auth)
    assert dup_code.status_code == 422 and dup_code.json["error"]["field"] == "code"
    patched = web.patch(f"/api/v1/admin/coupons/{cid}", json={"active": False}, headers=auth)
    assert patched.status_code == 200 and patched.json["active"] is False and patched.json["amount"] == 1000
    assert web.post(f"/api/v1/admin/coupons/{cid}/duplicate", headers=auth).status_code == 201
    assert len(web.get("/api/v1/admin/coupons/", headers=auth).json) == 2
    assert web.get(f"/api/v1/admin/coupons/{cid}/stats", headers=auth).json == {
        "claimed": 0, "used": 0, "discount": 0, "revenue": 0}
    assert web.post(f"/api/v1/admin/coupons/{cid}/codes", json={"count": 3}, headers=auth).status_code == 422
    assert web.get("/api/v1/admin/coupons/999999", headers=auth).status_code == 404
    assert web.get("/api/v1/admin/coupons/", headers=bearer(buyer)).status_code == 403
    assert web.post("/api/v1/admin/coupons/", json={"name": "X", "kind": "fixed", "amount": 1}).status_code == 401
    fresh()
    assert db.session.query(Coupon).count() == 2 and db.session.query(WalletCoupon).count() == 0


def test_disabled_api_is_404(app, web, buyer):
    set_state("coupons", enabled=False)
    assert web.get("/api/v1/coupons/wallet", headers=bearer(buyer)).status_code == 404


def test_openapi_lists_endpoints(app, enabled, web):
    paths = web.get("/api/v1/openapi.json").json["paths"]
    assert any(p.endswith("/coupons/apply") for p in paths)
    assert any(p.endswith("/coupons/claim") for p in paths) and any(p.endswith("/coupons/wallet") for p in paths)
    assert any("/admin/coupons" in p for p in paths)

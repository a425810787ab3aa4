"""Pages and forms: cart/checkout coupon box, claiming, wallet, CSRF, rate limit, popup slot, admin."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from plugins.coupons import services
from plugins.coupons.models import Coupon, CouponCode, WalletCoupon
from storefront.accounts.models import Role
from storefront.cart.services import find_cart
from storefront.extensions import db
from storefront.plugins.slots import render_slot
from tests.checkout.helpers import fresh
from tests.conftest import csrf_token_from
from tests.factories import make_product, make_user

from .conftest import fill_cart, make_coupon, set_state, sign_in


def choice(user):
    fresh()
    return (find_cart(user).data or {}).get("coupons")


def test_cart_page_apply_and_remove_code(app, enabled, web, buyer):
    make_coupon(name="Double 11", code="DOUBLE11", kind="percent", percent_bp=1000, max_discount=5000)
    fill_cart(app, buyer, (make_product(price=20000).skus[0], 1))
    sign_in(web, buyer)
    page = web.get("/cart/").get_data(as_text=True)
    assert 'action="/p/coupons/apply"' in page
    response = web.post("/p/coupons/apply", data={"coupons_code": " double 11 ", "coupons_next": "cart"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/cart/")
    page = web.get("/cart/").get_data(as_text=True)
    assert "Coupon Double 11" in page and "20.00" in page
    web.post("/p/coupons/remove", data={"coupons_next": "cart"})
    assert choice(buyer) == {"none": True}


def test_bad_code_shows_error_next_to_field(app, enabled, web, buyer):
    fill_cart(app, buyer, (make_product(price=20000).skus[0], 1))
    sign_in(web, buyer)
    page = web.post("/p/coupons/apply", data={"coupons_code": "NOSUCH"}, follow_redirects=True).get_data(as_text=True)
    assert 'class="field-error" role="alert">This coupon code does not exist.' in page
    assert choice(buyer) is None


def test_checkout_box_posts_whole_form_to_coupon_routes(app, enabled, web, buyer):
    make_coupon(code="TEN")
    fill_cart(app, buyer, (make_product(price=20000).skus[0], 1))
    sign_in(web, buyer)
    page = web.get("/checkout/").get_data(as_text=True)
    assert 'formaction="/p/coupons/apply"' in page and 'name="coupons_code"' in page
    response = web.post("/p/coupons/apply", data={"coupons_code": "ten", "coupons_next": "checkout"})
    assert response.headers["Location"].endswith("/checkout/")
    assert choice(buyer)["code"] == "TEN"


def test_open_redirect_is_refused(app, enabled, web, buyer):
    sign_in(web, buyer)
    for target in ("//evil.example", "https://evil.example", "javascript:alert(1)"):
        response = web.post("/p/coupons/remove", data={"coupons_next": target})
        assert response.headers["Location"].endswith("/cart/")


def test_anonymous_is_sent_to_login_and_changes_nothing(app, enabled, web):
    coupon = make_coupon(claimable=True)
    response = web.post("/p/coupons/claim", data={"coupon_id": coupon.id})
    assert response.status_code in (302, 303) and "login" in response.headers["Location"]
    assert web.get("/p/coupons/wallet").status_code in (302, 303)
    fresh()
    assert db.session.get(Coupon, coupon.id).claimed == 0


def test_claim_from_product_page_and_wallet_page(app, enabled, web, buyer):
    coupon = make_coupon(name="¥20 off ¥199", claimable=True, amount=2000, min_spend=19900, per_buyer_limit=1)
    product = make_product(price=5000)
    sign_in(web, buyer)
    page = web.get(f"/products/{product.slug}").get_data(as_text=True)
    assert 'action="/p/coupons/claim"' in page and "¥20 off ¥199" in page
    response = web.post("/p/coupons/claim", data={"coupon_id": coupon.id, "coupons_next": f"/products/{product.slug}"})
    assert response.headers["Location"].endswith(f"/products/{product.slug}")
    wallet = web.get("/p/coupons/wallet").get_data(as_text=True)
    assert "My coupons" in wallet and "¥20 off ¥199" in wallet
    again = web.post("/p/coupons/claim", data={"coupon_id": coupon.id}, follow_redirects=True)
    assert "already claimed" in again.get_data(as_text=True)
    fresh()
    assert db.session.scalar(select(func.count()).select_from(WalletCoupon)) == 1


def test_forged_claim_of_non_claimable_coupon(app, enabled, web, buyer):
    coupon = make_coupon(code="SECRET")
    sign_in(web, buyer)
    for value in (coupon.id, "999999", "abc", ""):
        web.post("/p/coupons/claim", data={"coupon_id": value})
    fresh()
    assert db.session.scalar(select(func.count()).select_from(WalletCoupon)) == 0


def test_csrf_is_required(app, enabled, secure_web, buyer):
    make_coupon(code="TEN")
    fill_cart(app, buyer, (make_product(price=20000).skus[0], 1))
    sign_in(secure_web, buyer)
    assert secure_web.post("/p/coupons/apply", data={"coupons_code": "ten"}).status_code == 400
    assert choice(buyer) is None
    token = csrf_token_from(secure_web.get("/cart/").get_data(as_text=True))
    ok = secure_web.post("/p/coupons/apply", data={"coupons_code": "ten", "csrf_token": token})
    assert ok.status_code == 303 and choice(buyer)["code"] == "TEN"


def test_code_attempts_are_rate_limited(app, enabled, secure_web, buyer):
    set_state("coupons", code_attempts_per_minute=3)
    fill_cart(app, buyer, (make_product(price=20000).skus[0], 1))
    sign_in(secure_web, buyer)
    token = csrf_token_from(secure_web.get("/cart/").get_data(as_text=True))
    codes = [secure_web.post("/p/coupons/apply", data={"coupons_code": f"GUESS{i}", "csrf_token": token}).status_code
             for i in range(5)]
    assert codes[:3] == [303, 303, 303] and codes[3:] == [429, 429]


def test_disabled_plugin_routes_answer_404(app, web, buyer):
    set_state("coupons", enabled=False)
    sign_in(web, buyer)
    assert web.post("/p/coupons/apply", data={"coupons_code": "X"}).status_code == 404
    assert web.get("/p/coupons/wallet").status_code == 404


def test_popup_claim_slot(app, enabled):
    make_coupon(name="Popup gift", code="POPUP20", claimable=True)
    make_coupon(name="Code only", code="CODEONLY")
    with app.test_request_context("/"):
        html = str(render_slot("popup_coupon_claim", popup_id=1, variant="a", coupon_code="popup20", preview=False))
        assert 'action="/p/coupons/claim"' in html and "data-pp-claim" in html and "Popup gift" in html
        preview = str(render_slot("popup_coupon_claim", popup_id=1, variant="a", coupon_code="POPUP20", preview=True))
        assert "disabled" in preview
        assert str(render_slot("popup_coupon_claim", popup_id=1, variant="a", coupon_code="CODEONLY",
                               preview=False)) == ""
        assert str(render_slot("popup_coupon_claim", popup_id=1, variant="a", coupon_code="", preview=False)) == ""


def test_coupon_names_are_escaped(app, enabled, web, buyer):
    make_coupon(name="<script>alert(1)</script>", claimable=True)
    fill_cart(app, buyer, (make_product(price=20000).skus[0], 1))
    sign_in(web, buyer)
    page = web.get("/cart/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


# --- admin --------------------------------------------------------------------------------------


def test_admin_requires_staff(app, enabled, web, buyer):
    coupon = make_coupon()
    assert web.get("/admin/coupons/").status_code in (302, 303, 401, 403)
    sign_in(web, buyer)
    for url in ("/admin/coupons/", "/admin/coupons/new", f"/admin/coupons/{coupon.id}"):
        assert web.get(url).status_code in (403, 404)
    assert web.post(f"/admin/coupons/{coupon.id}/active", data={"active": "0"}).status_code in (403, 404)
    fresh()
    assert db.session.get(Coupon, coupon.id).active


def test_admin_create_edit_pause_duplicate_codes(app, enabled, web, staff):
    sign_in(web, staff)
    assert web.get("/admin/coupons/").status_code == 200
    bad = web.post("/admin/coupons/new", data={"name": "Tiers", "kind": "tiers", "tiers": "200:abc"})
    assert bad.status_code == 422 and "spend:off" in bad.get_data(as_text=True)
    response = web.post("/admin/coupons/new", data={
        "name": "Manjian", "kind": "tiers", "tiers": "200:20, 500:60", "code": "mj 2026", "per_buyer_limit": "1",
        "active": "y"})
    assert response.status_code == 302
    fresh()
    coupon = db.session.execute(select(Coupon)).scalar_one()
    assert coupon.code == "MJ2026" and coupon.tiers == [[20000, 2000], [50000, 6000]]
    assert re.search(r"spend \S*200\.00, get \S*20\.00 off", web.get(f"/admin/coupons/{coupon.id}").get_data(as_text=True))
    web.post(f"/admin/coupons/{coupon.id}/edit", data={"name": "Manjian 2", "kind": "fixed", "amount": "15",
                                                       "active": "y"})
    fresh()
    assert (db.session.get(Coupon, coupon.id).name, db.session.get(Coupon, coupon.id).amount) == ("Manjian 2", 1500)
    web.post(f"/admin/coupons/{coupon.id}/active", data={"active": "0"})
    fresh()
    assert db.session.get(Coupon, coupon.id).active is False
    web.post(f"/admin/coupons/{coupon.id}/duplicate")
    fresh()
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 2
    batch = web.post("/admin/coupons/new", data={"name": "Batch", "kind": "fixed", "amount": "5",
                                                 "single_use_codes": "y", "active": "y"})
    assert batch.status_code == 302
    fresh()
    batch_id = db.session.execute(select(Coupon.id).where(Coupon.name == "Batch")).scalar_one()
    assert web.post(f"/admin/coupons/{batch_id}/codes", data={"count": "25"}).status_code == 302
    csv_text = web.get(f"/admin/coupons/{batch_id}/codes.csv").get_data(as_text=True)
    codes = csv_text.strip().splitlines()[1:]
    assert len(codes) == 25 and len(set(codes)) == 25
    assert all(re.fullmatch(r"[A-Z2-9]{12},", line) for line in codes)
    assert web.post(f"/admin/coupons/{batch_id}/codes", data={"count": "0"}).status_code == 422
    fresh()
    assert db.session.scalar(select(func.count()).select_from(CouponCode)) == 25


def test_admin_stats_page(app, enabled, web, staff):
    import uuid

    from storefront.checkout import services as checkout
    from tests.checkout.helpers import ADDRESS

    coupon = make_coupon(code="STAT", claimable=True)
    buyer = make_user()
    services.claim(buyer, coupon.id)
    fill_cart(app, buyer, (make_product(price=5000).skus[0], 2))
    with app.test_request_context():
        services.apply_code(buyer, find_cart(buyer), "stat")
        checkout.place_order(buyer, idempotency_key=uuid.uuid4().hex, address=dict(ADDRESS))
    from plugins.coupons.admin_services import stats

    fresh()
    assert stats([coupon.id])[coupon.id] == {"claimed": 1, "used": 1, "discount": 1000, "revenue": 10000 - 1000 + 1000}
    sign_in(web, staff)
    page = web.get("/admin/coupons/").get_data(as_text=True)
    assert "<td>1</td>" in page and "10.00" in page and "100.00" in page


def test_owner_account_menu_has_my_coupons(app, enabled, web):
    owner = make_user(role=Role.OWNER)
    sign_in(web, owner)
    assert "My coupons" in web.get("/p/coupons/wallet").get_data(as_text=True)


def test_admin_times_are_shop_time(app, enabled, web, staff, buyer):
    """Typed and shown in the shop's time zone (Asia/Shanghai, UTC+8), stored as naive UTC."""
    from datetime import datetime

    assert app.config["STOREFRONT_TIMEZONE"] == "Asia/Shanghai"
    sign_in(web, staff)
    form = web.get("/admin/coupons/new").get_data(as_text=True)
    assert "Valid from (shop time)" in form and "(UTC" not in form
    response = web.post("/admin/coupons/new", data={
        "name": "Double 11", "kind": "fixed", "amount": "10", "code": "D11", "active": "y", "claimable": "y",
        "starts_at": "2026-11-11T00:00", "ends_at": "2026-11-12T00:00"})
    assert response.status_code == 302
    fresh()
    coupon = db.session.execute(select(Coupon)).scalar_one()
    assert (coupon.starts_at, coupon.ends_at) == (datetime(2026, 11, 10, 16, 0), datetime(2026, 11, 11, 16, 0))
    edit = web.get(f"/admin/coupons/{coupon.id}/edit").get_data(as_text=True)
    assert 'value="2026-11-11T00:00"' in edit and 'value="2026-11-12T00:00"' in edit
    # Saving the form unchanged keeps the same instants (no drift by the offset).
    web.post(f"/admin/coupons/{coupon.id}/edit", data={
        "name": "Double 11", "kind": "fixed", "amount": "10", "code": "D11", "active": "y", "claimable": "y",
        "starts_at": "2026-11-11T00:00", "ends_at": "2026-11-12T00:00"})
    fresh()
    assert db.session.get(Coupon, coupon.id).starts_at == datetime(2026, 11, 10, 16, 0)
    detail = web.get(f"/admin/coupons/{coupon.id}").get_data(as_text=True)
    # Dates go through the shop's one date filter (storefront.i18n.format_shop_datetime).
    assert "<dd>Nov 11, 2026, 12:00\u202fAM – Nov 12, 2026, 12:00\u202fAM</dd>" in detail.replace("12:00 AM", "12:00\u202fAM")

"""Admin product pages: permissions, CRUD with field errors, stock changes, categories, audit."""
from __future__ import annotations

import io
import re

import pytest

from storefront.accounts.models import Role
from storefront.audit.models import AuditEntry
from storefront.catalog.models import Category, Product, ProductImage, Sku
from storefront.extensions import db

from ..conftest import csrf_token_from
from ..factories import PASSWORD, login, make_staff, make_user
from .helpers import make_category, make_full_product, png_bytes

GOOD_SKU = {"sku-code": "LS-BLK-M", "sku-options": "Black / M", "sku-price": "129.00", "sku-compare_at_price": "",
            "sku-stock": "7", "sku-low_stock_threshold": "2", "sku-active": "y"}


@pytest.fixture
def staff_client(app, client):
    login(client, make_staff())
    return client


def _admin_urls(product):
    sku = product.skus[0]
    return [("get", "/admin/products"), ("get", "/admin/products/new"), ("get", f"/admin/products/{product.id}"),
            ("post", f"/admin/products/{product.id}"), ("post", f"/admin/products/{product.id}/skus"),
            ("get", f"/admin/products/{product.id}/skus/{sku.id}"),
            ("post", f"/admin/products/{product.id}/skus/{sku.id}/stock"),
            ("post", f"/admin/products/{product.id}/images"), ("get", "/admin/categories"),
            ("post", "/admin/categories")]


def test_anonymous_is_sent_to_login(app, client):
    product = make_full_product()
    for method, url in _admin_urls(product):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/account/login" in response.headers["Location"]


def test_buyer_gets_403_and_changes_nothing(app, client):
    product = make_full_product()
    login(client, make_user())
    for method, url in _admin_urls(product):
        assert getattr(client, method)(url, data=GOOD_SKU).status_code == 403, url
    db.session.expire_all()
    assert db.session.query(Sku).count() == 1 and db.session.get(Sku, product.skus[0].id).stock == 10


def test_owner_can_use_admin(app, client):
    login(client, make_staff(role=Role.OWNER))
    assert client.get("/admin/products").status_code == 200


def test_create_product_with_auto_slug_and_audit(app, staff_client):
    cat = make_category()
    response = staff_client.post("/admin/products/new", data={
        "name": "Washed Linen Shirt", "slug": "", "description": "Soft", "category_id": str(cat.id),
        "option_names": "Colour, Size", "active": "y"})
    assert response.status_code == 302
    product = db.session.query(Product).one()
    assert product.slug == "washed-linen-shirt" and product.option_names == ["Colour", "Size"]
    assert product.category_id == cat.id
    entry = db.session.query(AuditEntry).filter_by(action="product.create").one()
    assert entry.after["slug"] == "washed-linen-shirt" and entry.before is None


@pytest.mark.parametrize("slug,message", [("Bad Slug!", "lower-case"), ("taken", "already uses")])
def test_bad_or_taken_slug_is_a_field_error(app, staff_client, slug, message):
    make_full_product("Taken", slug="taken")
    response = staff_client.post("/admin/products/new", data={"name": "New", "slug": slug, "option_names": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="field-error"' in html and message in html
    assert db.session.query(Product).count() == 1


def test_edit_product_records_before_and_after(app, staff_client):
    product = make_full_product("Old Name")
    response = staff_client.post(f"/admin/products/{product.id}", data={
        "name": "New Name", "slug": product.slug, "description": "x", "category_id": "0",
        "option_names": "Colour, Size"})
    assert response.status_code == 302
    db.session.expire_all()
    product = db.session.get(Product, product.id)
    assert product.name == "New Name" and product.active is False
    entry = db.session.query(AuditEntry).filter_by(action="product.update").one()
    assert entry.before["name"] == "Old Name" and entry.after["name"] == "New Name"
    assert entry.before["active"] is True and entry.after["active"] is False


def test_add_sku_parses_price(app, staff_client):
    product = make_full_product()
    response = staff_client.post(f"/admin/products/{product.id}/skus",
                                 data={**GOOD_SKU, "sku-compare_at_price": "159.9"})
    assert response.status_code == 302
    sku = db.session.query(Sku).filter_by(code="LS-BLK-M").one()
    assert (sku.price, sku.compare_at_price, sku.stock, sku.options) == (12900, 15990, 7, ["Black", "M"])
    assert db.session.query(AuditEntry).filter_by(action="sku.create").count() == 1


@pytest.mark.parametrize("field,value", [
    ("sku-price", "-5"), ("sku-price", "abc"), ("sku-price", "0.125"), ("sku-price", ""),
    ("sku-price", "12,3.4"), ("sku-compare_at_price", "-1"), ("sku-compare_at_price", "100.00"),
    ("sku-stock", "-1"), ("sku-stock", "2.5"), ("sku-stock", "many"), ("sku-low_stock_threshold", "-3"),
    ("sku-options", "Black"), ("sku-code", "has space"), ("sku-code", "product-0"),
])
def test_bad_sku_input_shows_field_error_and_changes_nothing(app, staff_client, field, value):
    product = make_full_product(slug="product")  # its SKU code is "product-0"
    response = staff_client.post(f"/admin/products/{product.id}/skus", data={**GOOD_SKU, field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    name = field.split("-", 1)[1]
    # the error sits in the field's own block
    block = html.split(f'id="sku-{name}"', 1)[1].split('<div class="field', 1)[0]
    assert 'class="field-error"' in block, html
    assert db.session.query(Sku).count() == 1
    assert db.session.query(AuditEntry).count() == 0


def test_edit_sku_price(app, staff_client):
    product = make_full_product(skus=(("Black", "S", 9900, 4),))
    sku = product.skus[0]
    data = {"code": sku.code, "options": "Black / S", "price": "89.50", "compare_at_price": "99",
            "low_stock_threshold": "1", "active": "y", "stock": "999"}
    response = staff_client.post(f"/admin/products/{product.id}/skus/{sku.id}", data=data)
    assert response.status_code == 302
    db.session.expire_all()
    sku = db.session.get(Sku, sku.id)
    assert (sku.price, sku.compare_at_price, sku.stock) == (8950, 9900, 4)  # stock not set by this form
    entry = db.session.query(AuditEntry).filter_by(action="sku.update").one()
    assert entry.before["price"] == 9900 and entry.after["price"] == 8950
    bad = staff_client.post(f"/admin/products/{product.id}/skus/{sku.id}", data={**data, "price": "-1"})
    assert bad.status_code == 422 and 'class="field-error"' in bad.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Sku, sku.id).price == 8950
    other = make_full_product("Other")
    assert staff_client.get(f"/admin/products/{other.id}/skus/{sku.id}").status_code == 404


def _stock(client, product, sku, **data):
    form = {f"stock{sku.id}-{k}": str(v) for k, v in data.items()}
    return client.post(f"/admin/products/{product.id}/skus/{sku.id}/stock", data=form)


def _stock_of(sku_id):
    db.session.expire_all()
    return db.session.get(Sku, sku_id).stock


def test_stock_adjust_and_set_are_conditional_and_audited(app, staff_client):
    product = make_full_product(skus=(("Black", "S", 9900, 5),))
    sku = product.skus[0]
    assert _stock(staff_client, product, sku, mode="adjust", quantity=3).status_code == 302
    assert _stock_of(sku.id) == 8
    response = _stock(staff_client, product, sku, mode="adjust", quantity=-9)
    assert response.status_code == 422 and "below zero" in response.get_data(as_text=True)
    assert _stock_of(sku.id) == 8
    # the staff member saw 5, but stock is 8 now (a sale or another edit): refuse
    stale = _stock(staff_client, product, sku, mode="set", quantity=20, expected=5)
    assert stale.status_code == 422 and "meanwhile" in stale.get_data(as_text=True)
    assert _stock_of(sku.id) == 8
    assert _stock(staff_client, product, sku, mode="set", quantity=20, expected=8).status_code == 302
    assert _stock_of(sku.id) == 20
    assert _stock(staff_client, product, sku, mode="set", quantity=-1, expected=20).status_code == 422
    assert _stock(staff_client, product, sku, mode="adjust", quantity="x").status_code == 422
    assert _stock_of(sku.id) == 20
    entries = db.session.query(AuditEntry).filter_by(action="sku.stock").order_by(AuditEntry.id).all()
    assert [(e.before["stock"], e.after["stock"]) for e in entries] == [(5, 8), (8, 20)]


def test_admin_list_shows_stock_totals_low_stock_and_searches(app, staff_client):
    make_full_product("Quiet Tee", skus=(("A", "S", 100, 10), ("A", "M", 100, 2)), threshold=3)
    make_full_product("Hidden Coat", active=False, skus=(("A", "S", 100, 0),))
    html = staff_client.get("/admin/products").get_data(as_text=True)
    assert "Quiet Tee" in html and "Hidden Coat" in html  # staff see hidden products too
    row = html.split("Quiet Tee", 1)[1].split("</tr>", 1)[0]
    assert "12" in row and "1 low" in row
    coat = html.split("Hidden Coat", 1)[1].split("</tr>", 1)[0]
    assert "1 sold out" in coat and "Hidden" in coat
    found = staff_client.get("/admin/products?q=coat").get_data(as_text=True)
    assert "Hidden Coat" in found and "Quiet Tee" not in found


def test_admin_list_paginates(app, staff_client):
    for i in range(35):
        make_full_product(f"Item {i:02d}", slug=f"item-{i:02d}")
    first = staff_client.get("/admin/products").get_data(as_text=True)
    assert "Item 34" in first and "Item 04" not in first
    next_url = re.search(r'href="(/admin/products\?after=\d+)"', first).group(1)
    second = staff_client.get(next_url).get_data(as_text=True)
    assert "Item 04" in second and "Item 34" not in second


def test_categories_crud(app, staff_client):
    assert staff_client.post("/admin/categories", data={"name": "Knitwear", "slug": "", "position": "2"}).status_code == 302
    cat = db.session.query(Category).one()
    assert cat.slug == "knitwear"
    dup = staff_client.post("/admin/categories", data={"name": "Knit 2", "slug": "knitwear"})
    assert dup.status_code == 422 and 'class="field-error"' in dup.get_data(as_text=True)
    assert staff_client.post(f"/admin/categories/{cat.id}", data={"name": "Knits", "slug": "knits",
                                                                  "position": "1"}).status_code == 302
    product = make_full_product(category=db.session.get(Category, cat.id))
    assert staff_client.post(f"/admin/categories/{cat.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.query(Category).count() == 0
    assert db.session.get(Product, product.id).category_id is None
    actions = {e.action for e in db.session.query(AuditEntry)}
    assert {"category.create", "category.update", "category.delete"} <= actions


def test_admin_forms_need_csrf(app, secure_client):
    staff = make_staff()
    product = make_full_product()
    token = csrf_token_from(secure_client.get("/account/login").get_data(as_text=True))
    signed_in = secure_client.post("/account/login", data={"email": staff.email, "password": PASSWORD,
                                                            "csrf_token": token})
    assert signed_in.status_code == 302
    no_token = secure_client.post(f"/admin/products/{product.id}/skus", data=GOOD_SKU)
    assert no_token.status_code == 400
    page = secure_client.get(f"/admin/products/{product.id}").get_data(as_text=True)
    token = csrf_token_from(page)
    ok = secure_client.post(f"/admin/products/{product.id}/skus", data={**GOOD_SKU, "sku-csrf_token": token})
    assert ok.status_code == 302
    db.session.rollback()  # drop this session's older read snapshot: the other app wrote
    assert db.session.query(Sku).count() == 2


def test_option_names_must_fit_existing_skus(app, staff_client):
    product = make_full_product("Two Options")  # SKUs carry [colour, size]
    response = staff_client.post(f"/admin/products/{product.id}", data={
        "name": "Two Options", "slug": product.slug, "option_names": "Colour", "active": "y"})
    assert response.status_code == 422
    block = response.get_data(as_text=True).split('id="option_names"', 1)[1].split('<div class="field', 1)[0]
    assert 'class="field-error"' in block
    db.session.expire_all()
    assert db.session.get(Product, product.id).option_names == ["Colour", "Size"]


def test_image_buttons_carry_working_csrf_tokens(app, secure_client, upload_dir):
    staff = make_staff()
    product = make_full_product()
    token = csrf_token_from(secure_client.get("/account/login").get_data(as_text=True))
    secure_client.post("/account/login", data={"email": staff.email, "password": PASSWORD, "csrf_token": token})
    page = secure_client.get(f"/admin/products/{product.id}").get_data(as_text=True)
    img_token = re.search(r'name="img-csrf_token"[^>]*value="([^"]+)"', page).group(1)
    uploaded = secure_client.post(f"/admin/products/{product.id}/images", content_type="multipart/form-data",
                                  data={"img-image": (io.BytesIO(png_bytes()), "a.png"), "img-csrf_token": img_token})
    assert uploaded.status_code == 302
    db.session.rollback()
    image = db.session.query(ProductImage).one()
    assert secure_client.post(f"/admin/products/{product.id}/images/{image.id}/delete").status_code == 400
    page = secure_client.get(f"/admin/products/{product.id}").get_data(as_text=True)
    button_form = page.split(f"/images/{image.id}/delete", 1)[1]
    deleted = secure_client.post(f"/admin/products/{product.id}/images/{image.id}/delete",
                                 data={"csrf_token": csrf_token_from(button_form)})
    assert deleted.status_code == 302
    db.session.rollback()
    assert db.session.query(ProductImage).count() == 0

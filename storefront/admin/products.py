"""Admin pages: products, SKUs, stock, images and categories (staff only)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from ..catalog import queries, services
from ..catalog.forms import (
    ActionForm,
    CategoryForm,
    ImageForm,
    ProductForm,
    SkuEditForm,
    SkuForm,
    StockForm,
)
from ..catalog.models import Category, Sku
from ..errors import ServiceError
from ..extensions import db
from ..forms import show_service_error
from ..i18n import gettext as _
from .access import owner_required, staff_required  # noqa: F401
from .views import bp

ADMIN_PAGE = 30


def _apply_error(form, exc: ServiceError) -> None:
    """Show a service error next to its field, or as a message when it has none."""
    if not show_service_error(form, exc):
        flash(exc.message, "error")


def _category_choices(form: ProductForm) -> None:
    form.category_id.choices = [SelectChoice(0, _("No category"))] + [SelectChoice(c.id, c.name)
                                                                       for c in queries.list_categories()]


def _product_or_404(product_id: int):
    product = queries.get_product_by_id(product_id)
    if product is None:
        abort(404)
    return product


@bp.get("/products")
@staff_required
def products():
    q = (request.args.get("q") or "").strip()[:100]
    try:
        after = int(request.args.get("after", "")) or None
    except ValueError:
        after = None
    page = queries.list_products(q=q or None, after=after, limit=ADMIN_PAGE, active_only=False)
    rows = [(p, queries.stock_summary(p)) for p in page.items]
    next_url = url_for("admin.products", after=page.next_after, q=q or None) if page.next_after else None
    return render_template("admin/products/list.html", rows=rows, q=q, next_url=next_url,
                           first_url=url_for("admin.products", q=q or None) if after else None)


@bp.route("/products/new", methods=["GET", "POST"])
@staff_required
def product_new():
    form = ProductForm()
    _category_choices(form)
    if form.validate_on_submit():
        try:
            product = services.save_product(current_user, form.to_data())
        except ServiceError as exc:
            _apply_error(form, exc)
        else:
            flash(_("Product created. Add its SKUs and pictures below."), "success")
            return redirect(url_for("admin.product_edit", product_id=product.id))
    status = 422 if form.errors else 200
    return render_template("admin/products/new.html", form=form), status


def _render_edit(product, *, form=None, sku_form=None, image_form=None, stock_forms=None, status=200):
    if form is None:
        form = ProductForm(obj=product, formdata=None)
        form.option_names.data = ", ".join(product.option_names or [])
        form.category_id.data = product.category_id or 0
    _category_choices(form)
    stock_forms = stock_forms or {}
    for sku in product.skus:
        if sku.id not in stock_forms:
            sf = StockForm(prefix=f"stock{sku.id}", formdata=None)
            sf.expected.data = str(sku.stock)
            stock_forms[sku.id] = sf
    return render_template("admin/products/edit.html", product=product, form=form,
                           sku_form=sku_form or SkuForm(prefix="sku", formdata=None),
                           image_form=image_form or ImageForm(prefix="img", formdata=None),
                           stock_forms=stock_forms, summary=queries.stock_summary(product)), status


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@staff_required
def product_edit(product_id: int):
    product = _product_or_404(product_id)
    if request.method == "GET":
        return _render_edit(product)
    form = ProductForm()
    _category_choices(form)
    if form.validate_on_submit():
        try:
            services.save_product(current_user, form.to_data(), product_id=product.id)
        except ServiceError as exc:
            _apply_error(form, exc)
        else:
            flash(_("Product saved."), "success")
            return redirect(url_for("admin.product_edit", product_id=product.id))
    db.session.rollback()
    return _render_edit(_product_or_404(product_id), form=form, status=422)


@bp.post("/products/<int:product_id>/skus")
@staff_required
def product_sku_new(product_id: int):
    product = _product_or_404(product_id)
    sku_form = SkuForm(prefix="sku")
    if sku_form.validate_on_submit():
        try:
            services.save_sku(current_user, product.id, sku_form.to_data())
        except ServiceError as exc:
            _apply_error(sku_form, exc)
        else:
            flash(_("SKU added."), "success")
            return redirect(url_for("admin.product_edit", product_id=product.id))
    return _render_edit(_product_or_404(product_id), sku_form=sku_form, status=422)


@bp.route("/products/<int:product_id>/skus/<int:sku_id>", methods=["GET", "POST"])
@staff_required
def product_sku_edit(product_id: int, sku_id: int):
    product = _product_or_404(product_id)
    sku = db.session.get(Sku, sku_id)
    if sku is None or sku.product_id != product.id:
        abort(404)
    if request.method == "GET":
        form = SkuEditForm(obj=sku, formdata=None)
        form.options.data = " / ".join(sku.options or [])
        return render_template("admin/products/sku.html", product=product, sku=sku, form=form)
    form = SkuEditForm()
    if form.validate_on_submit():
        try:
            services.save_sku(current_user, product.id, form.to_data(), sku_id=sku.id)
        except ServiceError as exc:
            _apply_error(form, exc)
        else:
            flash(_("SKU saved."), "success")
            return redirect(url_for("admin.product_edit", product_id=product.id))
    db.session.rollback()
    return render_template("admin/products/sku.html", product=product, sku=db.session.get(Sku, sku_id),
                           form=form), 422


@bp.post("/products/<int:product_id>/skus/<int:sku_id>/stock")
@staff_required
def product_sku_stock(product_id: int, sku_id: int):
    product = _product_or_404(product_id)
    if not any(s.id == sku_id for s in product.skus):
        abort(404)
    form = StockForm(prefix=f"stock{sku_id}")
    if form.validate_on_submit():
        try:
            new = services.adjust_stock(current_user, sku_id, mode=form.mode.data, quantity=form.quantity.data,
                                        expected=form.expected_value(), reason=form.reason.data or "")
        except ServiceError as exc:
            _apply_error(form, exc)
            # The page now shows the current stock; sending again means "I saw it".
            db.session.expire_all()
            current = db.session.get(Sku, sku_id)
            form.expected.data = str(current.stock) if current else ""
        else:
            flash(_("Stock is now %(n)d.", n=new), "success")
            return redirect(url_for("admin.product_edit", product_id=product.id))
    return _render_edit(_product_or_404(product_id), stock_forms={sku_id: form}, status=422)


@bp.post("/products/<int:product_id>/images")
@staff_required
def product_image_upload(product_id: int):
    product = _product_or_404(product_id)
    form = ImageForm(prefix="img")
    if form.validate_on_submit():
        try:
            # Read one byte past the limit: enough to refuse, never the whole of a huge body.
            limit = int(current_app.config["STOREFRONT_MAX_IMAGE_BYTES"])
            services.add_image(current_user, product.id, form.image.data.read(limit + 1), alt=form.alt.data or "")
        except ServiceError as exc:
            _apply_error(form, exc)
        else:
            flash(_("Picture added."), "success")
            return redirect(url_for("admin.product_edit", product_id=product.id))
    return _render_edit(_product_or_404(product_id), image_form=form, status=422)


@bp.post("/products/<int:product_id>/images/<int:image_id>/<any(up,down,delete):action>")
@staff_required
def product_image_action(product_id: int, image_id: int, action: str):
    product = _product_or_404(product_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if action == "delete":
        services.delete_image(current_user, product.id, image_id)
        flash(_("Picture removed."), "success")
    else:
        services.move_image(current_user, product.id, image_id, -1 if action == "up" else 1)
    return redirect(url_for("admin.product_edit", product_id=product.id))


# categories -----------------------------------------------------------------

@bp.route("/categories", methods=["GET", "POST"])
@staff_required
def categories():
    form = CategoryForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.save_category(current_user, {"name": form.name.data, "slug": form.slug.data,
                                                      "position": form.position.data or 0})
            except ServiceError as exc:
                _apply_error(form, exc)
            else:
                flash(_("Category added."), "success")
                return redirect(url_for("admin.categories"))
        status = 422
    return render_template("admin/products/categories.html", form=form, categories=queries.list_categories()), status


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
@staff_required
def category_edit(category_id: int):
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404)
    form = CategoryForm(obj=category) if request.method == "POST" else CategoryForm(obj=category, formdata=None)
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.save_category(current_user, {"name": form.name.data, "slug": form.slug.data,
                                                  "position": form.position.data or 0}, category_id=category.id)
        except ServiceError as exc:
            _apply_error(form, exc)
        else:
            flash(_("Category saved."), "success")
            return redirect(url_for("admin.categories"))
    return render_template("admin/products/category.html", form=form, category=category), 422 if form.errors else 200


@bp.post("/categories/<int:category_id>/delete")
@staff_required
def category_delete(category_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    services.delete_category(current_user, category_id)
    flash(_("Category deleted."), "success")
    return redirect(url_for("admin.categories"))

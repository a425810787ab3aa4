"""Staff pages: the presale list (quota, sold, deposits, balances, at-risk and overdue orders),
create and edit a campaign, raise or lower a quota. 404 while the plugin is disabled."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from storefront.admin.access import staff_required
from storefront.catalog.models import Product
from storefront.catalog import queries
from storefront.clock import utcnow
from storefront.errors import NotFound, ServiceError
from storefront.extensions import db
from storefront.forms import show_service_error
from storefront.i18n import gettext as _

from . import campaigns
from .forms import CampaignForm, QuotaForm
from storefront.clock import local_to_utc, utc_to_local

bp = Blueprint("presale_admin", __name__, url_prefix="/admin/presale", template_folder="templates")


def _campaign_or_404(campaign_id: int):
    try:
        return campaigns.get_campaign(campaign_id)
    except NotFound:
        abort(404)


def _quota_inputs(product, existing: dict[int, int]) -> tuple[dict, dict]:
    """Quota per SKU from the posted ``quota_<sku id>`` inputs; empty = not on presale."""
    raw = {sku.id: request.form.get(f"quota_{sku.id}", "").strip() for sku in product.skus}
    quotas = {sku_id: value for sku_id, value in raw.items() if value}
    shown = {sku.id: raw.get(sku.id, "") if request.method == "POST" else existing.get(sku.id, "")
             for sku in product.skus}
    return quotas, shown


def _data(form: CampaignForm, product, quotas: dict) -> dict:
    data = {name: form[name].data for name in form._fields if name not in ("csrf_token",)}
    for name in ("starts_at", "ends_at", "balance_opens_at", "balance_closes_at"):
        data[name] = local_to_utc(form[name].data)
    data["product_id"] = product.id
    data["quotas"] = quotas
    return data


def _save(form, product, campaign=None):
    existing = {q.sku_id: q.quota for q in campaign.quotas} if campaign else {}
    quotas, shown = _quota_inputs(product, existing)
    if request.method == "POST" and form.validate_on_submit():
        try:
            if campaign is None:
                campaign = campaigns.create_campaign(_data(form, product, quotas), current_user)
                flash(_("Presale created."), "success")
            else:
                campaigns.update_campaign(campaign.id, _data(form, product, quotas), current_user)
                flash(_("Presale saved."), "success")
            return redirect(url_for(".index"), 303)
        except ServiceError as exc:
            # The quota inputs are not form fields: their error goes above the quota table.
            quota_error = exc.message if exc.field == "quotas" else None
            if quota_error is None and not show_service_error(form, exc):
                flash(exc.message, "error")
            return render_template("presale/admin_campaign.html", form=form, product=product, campaign=campaign,
                                   quotas=shown, quota_error=quota_error, sold=_sold(campaign)), 422
    return render_template("presale/admin_campaign.html", form=form, product=product, campaign=campaign,
                           quotas=shown, quota_error=None, sold=_sold(campaign))


def _sold(campaign) -> dict[int, int]:
    return {q.sku_id: q.sold for q in campaign.quotas} if campaign else {}


@bp.get("/")
@staff_required
def index():
    now = utcnow()
    rows = campaigns.campaign_stats(campaigns.list_campaigns(), now)
    q = (request.args.get("q") or "").strip()[:100]
    products, more = _product_choices(q)
    return render_template("presale/admin_index.html", rows=rows, products=products, more_products=more, q=q,
                           product_choices=PRODUCT_CHOICES, attention=campaigns.attention_orders(now),
                           local=utc_to_local, quota_form=QuotaForm())


PRODUCT_CHOICES = 50


def _product_choices(q: str) -> tuple[list, bool]:
    """Products to start a presale on: the newest, or those matching ``q`` (the admin product
    search's rule), sorted by name; and whether there are more. The list used to hold every
    product: a full scan and one option per product of the catalogue on each view of the page."""
    page = queries.list_products(q=q or None, limit=PRODUCT_CHOICES, active_only=False)
    return sorted(page.items, key=lambda p: (p.name.lower(), p.id)), page.next_after is not None


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def create():
    product = db.session.get(Product, request.values.get("product_id", type=int) or 0)
    if product is None:
        flash(_("Choose a product first."), "error")
        return redirect(url_for(".index"))
    return _save(CampaignForm(), product)


@bp.route("/<int:campaign_id>", methods=["GET", "POST"])
@staff_required
def edit(campaign_id):
    campaign = _campaign_or_404(campaign_id)
    form = CampaignForm(obj=campaign) if request.method == "GET" else CampaignForm()
    if request.method == "GET":
        for name in ("starts_at", "ends_at", "balance_opens_at", "balance_closes_at"):
            form[name].data = utc_to_local(getattr(campaign, name))
    return _save(form, campaign.product, campaign)


@bp.post("/<int:campaign_id>/quota/<int:sku_id>")
@staff_required
def quota(campaign_id, sku_id):
    campaign = _campaign_or_404(campaign_id)
    form = QuotaForm()
    if not form.validate_on_submit():
        flash(_("Enter a quota from 0 to 1000000."), "error")
    else:
        try:
            campaigns.set_quota(campaign.id, sku_id, form.quota.data, current_user)
            flash(_("Quota saved."), "success")
        except ServiceError as exc:
            flash(exc.message, "error")
    return redirect(url_for(".index"), 303)

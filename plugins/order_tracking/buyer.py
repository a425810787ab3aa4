"""Buyer and guest pages: tracking page per order, guest lookup, signed links, webhook."""
from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, make_response, render_template, request
from flask_login import login_required

from storefront.clock import utcnow
from storefront.context_objects import user_object
from storefront.errors import NotFound
from storefront.extensions import csrf
from storefront.orders.display import status_label

from . import tracking, webhook
from .forms import STATUS_LABELS, LookupForm

bp = Blueprint("order_tracking", __name__, url_prefix="/p/tracking", static_folder="static",
               static_url_path="/static", template_folder="templates")


@bp.context_processor
def _words():
    return {"status_words": STATUS_LABELS, "status_label": status_label}


def _private(response):
    # Guest pages carry an order's status: never indexed, cached or leaked via Referer.
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/orders/<number>")
@login_required
def order_page(number: str):
    try:
        order = tracking.order_for_viewer(user_object(), number)
    except NotFound:
        abort(404)
    g.no_store = True
    return render_template("order_tracking/page.html", view=tracking.tracking_view(order), guest=False)


@bp.route("/lookup", methods=["GET", "POST"])
def lookup():
    form = LookupForm()
    view, status, not_found = None, 200, False
    if form.validate_on_submit():
        try:
            order = tracking.guest_lookup(form.number.data, form.contact.data, request.remote_addr or "")
        except NotFound:
            not_found, status = True, 404
        else:
            view = tracking.guest_view(order)
    elif form.errors:
        status = 422
    html = render_template("order_tracking/lookup.html", form=form, view=view, not_found=not_found)
    return _private(_response(html, status))


@bp.get("/t/<token>")
def signed(token: str):
    try:
        order = tracking.order_from_token(token)
    except NotFound:
        return _private(_response(render_template("order_tracking/lookup.html", form=LookupForm(), view=None,
                                                  link_invalid=True), 404))
    return _private(_response(render_template("order_tracking/lookup.html", form=None,
                                              view=tracking.guest_view(order)), 200))


def _response(html: str, status: int):
    return make_response(html, status)


@bp.post("/webhook")
@csrf.exempt  # machine-to-machine: authenticated by the HMAC signature instead
def webhook_push():
    try:
        body, status = webhook.handle(request.headers, webhook.read_body(request), utcnow())
    except webhook.WebhookError as exc:
        return jsonify(exc.to_json()), exc.status
    return jsonify(body), status

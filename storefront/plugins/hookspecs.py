"""Every hook the storefront calls, documented.

Plugins implement them with ``@hookimpl`` (``from storefront.plugins import
hookimpl``). A hook implementation whose name matches no spec fails at
start-up (``check_pending``). Hooks of disabled plugins are never called.

Money is integer minor units of the cart/order currency. Hooks that affect
money or stock may raise :class:`storefront.errors.ServiceError` to fail the
whole operation cleanly; hooks that only decorate a page have their errors
logged and their output dropped.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("storefront")


@hookspec
def configure(app):
    """Called once per app after every plugin is registered.

    Register CLI commands, template filters, signal handlers. All results ignored.
    """


@hookspec
def product_offer(product, sku, buyer):
    """What a plugin says about buying ``sku`` of ``product`` now.

    Called for product cards, product pages, cart lines and at checkout.
    ``buyer`` is the current user or ``None``. Return a
    :class:`~storefront.plugins.types.Offer` or ``None``. Collected: badges
    are all shown; the lowest ``available`` applies; the first non-None
    ``price``, ``ship_promise`` and ``group`` win (plugin load order).
    """


@hookspec
def prefetch_offers(skus, buyer):
    """Optional: ``product_offer`` is about to be asked for each of ``skus``.

    Called before a cart is priced, so a plugin can read what it needs for
    all of them in one query (into :func:`storefront.plugins.request_memo`)
    instead of one query per SKU. Return nothing; a plugin that does not
    implement it is asked SKU by SKU as before.
    """


@hookspec
def cart_adjustments(cart, lines, subtotal, buyer, delivery, address):
    """Discounts and fees on a cart: return a list of
    :class:`~storefront.plugins.types.Adjustment`.

    ``lines`` are priced :class:`storefront.checkout.pricing.PricedLine`
    objects, ``subtotal`` their sum, ``delivery`` the chosen
    :class:`~storefront.plugins.types.DeliveryOption` or ``None``,
    ``address`` the delivery address dict being priced (keys ``province``,
    ``city``...) or ``None`` when none is known yet. Collected
    and applied in ascending ``Adjustment.order``: 100 item discounts, 200
    order discounts (coupons), 300 shipping changes (free shipping), 400
    store credit. Discounts are capped so the total never goes below zero.
    """


@hookspec
def delivery_options(cart, address, buyer, wanted):
    """Delivery options for a cart: a list of
    :class:`~storefront.plugins.types.DeliveryOption`. Collected in plugin
    order; the core's flat-rate courier is a ``trylast`` default.

    ``wanted`` is the code of the option the buyer chose when that is the
    only one needed (an order being placed, a cart priced with a remembered
    choice), else None (a page or answer listing them all). A plugin whose
    option has another code may return nothing instead of working out
    whether it could offer it; returning it anyway is harmless.

    ``wanted`` is :data:`~storefront.plugins.PRESELECTED` when only the
    option a buyer who has not chosen gets is needed: the first one (a cart
    page's total). A plugin whose option may come first answers as for None;
    one whose option always comes after another (store pickup puts itself
    after the courier, which the core always offers) may return nothing.
    """


@hookspec
def validate_checkout(checkout):
    """Problems that block ``checkout`` (a :class:`storefront.checkout.services.CheckoutDraft`):
    return a list of :class:`~storefront.plugins.types.Problem`. Collected;
    any problem blocks submission. Called when the checkout page renders and
    again at submit.

    Plugin choices (a pickup location, a time slot...) arrive in
    ``checkout.extra``: a dict of short strings whose keys start with the
    plugin's name (``store_pickup_slot``). The checkout page posts every
    form field named ``<installed plugin name>_...`` there (render the inputs
    in the ``checkout_delivery`` template slot, whose context has
    ``checkout`` and ``form``); the API takes them as the ``extra`` object of
    ``POST /api/v1/checkout``. Values are untrusted: validate them here and
    again in ``order_placing``.
    """


@hookspec
def buy_now_cart(cart, buyer, extra):
    """A buy-now checkout (立即购买, ``POST /api/v1/checkout/buy-now``, the product
    page's "Buy now") is about to be priced: ``cart`` is a transient
    :class:`~storefront.cart.models.Cart` holding that one line, never stored,
    and the buyer's own cart is not touched. Turn the plugin's choices posted
    in ``extra`` (see ``validate_checkout``) into what pricing reads from a
    cart, e.g. ``cart.data["coupons"]`` for a typed ``coupons_code``; raise
    :class:`~storefront.errors.ValidationFailed` (with ``field``) for a value
    that can never apply, and nothing is written. ``cart.stored`` is False:
    code that writes the stored cart must skip such a cart.
    """


@hookspec(firstresult=True)
def split_checkout(checkout):
    """Split a checkout's lines into orders: return a list of
    :class:`~storefront.plugins.types.CheckoutGroup` or ``None`` (one order).
    First non-None result wins.
    """


@hookspec
def order_placing(order, checkout):
    """Called inside the checkout transaction for each new order, after its
    lines and adjustments are written and before commit. Reserve what the
    plugin owns (quota, coupon use, pickup slot) with conditional updates;
    raise a ServiceError to abort the whole checkout.
    """


@hookspec(firstresult=True)
def payment_due(order, checkout):
    """How much of the new ``order`` the checkout's payment charges (integer
    minor units, ``0 < due <= order.total``), or ``None`` for the whole total.
    Called inside the checkout transaction right after ``order_placing``;
    first non-None wins. A plugin that returns less (a presale deposit)
    collects the rest later with
    :func:`storefront.payments.services.start_order_payment` and owns the
    part-paid order's deadline (the core's unpaid-order sweep skips orders
    with money received).
    """


@hookspec(firstresult=True)
def ship_promise(order, paid_at):
    """Ship-by deadline (naive UTC datetime) for ``order`` paid at
    ``paid_at``. First non-None wins; the core default is the
    ``ship_within_hours`` setting after payment.

    Called before the payment's write transaction, with ``order`` as read
    and still pending, so that the "paid" notification is rendered outside
    the write lock: answer from what is fixed once the order is placed (its
    lines, your records written at ``order_placing``) and ``paid_at``.
    """


@hookspec(firstresult=True)
def promotion_claimable(ref):
    """Whether the promotion ``ref`` (e.g. ``"coupon:DOUBLE11"``, a claimable
    coupon's code) can be claimed now: ``True``, ``False`` (known but claimed
    out, paused or outside its window), or ``None`` when ``ref`` is not yours.
    First non-None wins. Callers may cache the answer (promo popups keep it
    until any plugin's state version changes), so an implementation bumps its
    own ``plugin_states.version`` when an answer changes (e.g. the last claim).
    Must be cheap: no query per call beyond a cached lookup.
    """


@hookspec
def transition_guard(obj, to, actor):
    """Veto a status change: return a reason string (or list) to refuse it,
    ``None`` to allow. Collected; any reason vetoes.
    """


@hookspec
def order_event(order, event):
    """Called after the transaction that recorded ``event`` (an
    :class:`~storefront.plugins.types.OrderEventInfo`) has committed.
    Side effects (notifications, follow-up work) belong here; errors are logged.

    Each handler that commits expires ``order``, and the next one to touch it
    reloads it: a handler that needs only the id reads ``event.order_id``.
    """


@hookspec(firstresult=True)
def order_event_label(event):
    """The timeline sentence for an :class:`~storefront.orders.models.OrderEvent`
    of a plugin's own ``kind`` (e.g. ``pickup_ready``), in the reader's
    language: return a string, or ``None`` when the kind is not yours.
    First non-None wins; the core's fallback turns the kind into words.
    Called while rendering, also for plugins that are now disabled, so old
    timelines keep their wording.
    """


@hookspec
def notification_lines(order, kind):
    """Extra plain-text lines for the buyer's ``kind`` notification about
    ``order`` (kinds: order_paid, order_shipped, order_closed,
    order_payment_reminder), e.g. a signed tracking link. Return a string or
    a list of strings; collected. Rendered in the buyer's locale inside the
    caller's transaction; errors are logged and the lines dropped.
    """


@hookspec
def sweep(now):
    """Process deadlines due at ``now`` (naive UTC). Must be idempotent and
    safe to run concurrently on several machines. Return a dict of counts
    (shown by ``flask storefront sweep``) or ``None``.
    """


@hookspec
def template_slot(name, context):
    """Markup for a named slot in a template (``{{ slot('product_badges', product=p) }}``).

    Return a string (escaped unless it is ``Markup``) or ``None``. Collected and
    joined; errors are logged and the slot renders empty. Slots in core
    templates: ``head``, ``body_end``, ``product_card``, ``product_page``,
    ``cart_line``, ``cart_summary``, ``checkout_summary``, ``checkout_delivery``
    (inside the delivery choice; context ``checkout``, ``form``), ``order_page``,
    ``order_admin``, ``account_page``.
    """


@hookspec
def admin_menu(user):
    """Admin navigation items: a list of :class:`~storefront.plugins.types.MenuItem`."""


@hookspec
def account_menu(user):
    """Buyer account navigation items: a list of MenuItem."""


@hookspec
def dashboard_widgets(user):
    """Widgets on the admin dashboard: a list of :class:`~storefront.plugins.types.Widget`."""


@hookspec
def api_routes(api):
    """Register the plugin's ``flask_smorest.Blueprint`` objects on ``api``
    with :func:`storefront.plugins.host.register_plugin_api` (mounted under
    ``/api/v1``, CSRF-exempt, 404 while the plugin is disabled).

    Called once at start-up for every installed plugin (routes of a disabled
    plugin answer 404).
    """


@hookspec
def demo_data(now):
    """Add the plugin's demo records to the demo shop (called once, on the
    first start, inside a transaction the caller commits)."""


@hookspec(firstresult=True)
def payment_provider(name):
    """Return the payment provider object registered as ``name`` (see
    :mod:`storefront.payments.providers`), first result wins."""

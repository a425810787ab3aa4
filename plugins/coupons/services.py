"""Buyer-side coupon use cases: codes, the wallet, the cart's choice and what it is worth.

The cart's coupon choice lives in ``Cart.data["coupons"]``:

* ``{"coupon_id": 3, "code_id": null, "wallet_id": null, "code": "DOUBLE11"}`` — a typed code,
* ``{"coupon_id": 3, "wallet_id": 12}`` — a coupon of the buyer's wallet,
* ``{"none": true}`` — the buyer chose no coupon,
* absent — the best applicable wallet coupon is pre-selected.

Pricing only reads; a choice that stopped qualifying gives no discount and
``validate_checkout`` reports it (see hooks.py), so nothing stale is charged.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from sqlalchemy import bindparam, select, text

from storefront import joined_rows
from storefront.cart.models import Cart
from storefront.checkout.pricing import chosen_delivery, priced_lines
from storefront.clock import utcnow
from storefront.database import get_by_pk, loaded_id, write_transaction
from storefront.errors import Conflict, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.i18n import gettext as _
from storefront.models_base import MAX_ROW_ID
from storefront.plugins import Adjustment, forget_request_memo, request_memo
from storefront.plugins.host import get_host

from .claimables import bump_version
from .models import BuyerCount, Coupon, CouponCode, WalletCoupon
from .rules import Evaluation, evaluate, normalize_code

PLUGIN_NAME = "coupons"
DATA_KEY = "coupons"
#: The choice "no coupon on this cart" (also stops the wallet pre-selection).
NO_COUPON = {"none": True}
CODE_RE = re.compile(r"^[A-Z0-9_-]{3,40}$")
DEFAULT_SETTINGS = {"return_on_close": True, "code_attempts_per_minute": 10}


def settings() -> dict:
    return get_host().settings(PLUGIN_NAME)


@dataclass(frozen=True)
class Selection:
    coupon: Coupon
    evaluation: Evaluation
    code_id: int | None = None
    wallet_id: int | None = None
    code: str | None = None
    auto: bool = False
    problem: str | None = None  # set when the chosen coupon cannot be used now

    def adjustment(self) -> Adjustment | None:
        if self.problem or not self.evaluation.applies or self.evaluation.discount <= 0:
            return None
        data = {"coupon_id": self.coupon.id, "code_id": self.code_id, "wallet_id": self.wallet_id,
                "code": self.code}
        label = _("Coupon %(name)s", name=self.coupon.name)
        if self.coupon.kind == "shipping":
            return Adjustment(code=f"coupon:{self.coupon.id}", label=label, amount=-self.evaluation.discount,
                              source=PLUGIN_NAME, kind="shipping", order=300, data=data)
        return Adjustment(code=f"coupon:{self.coupon.id}", label=label, amount=-self.evaluation.discount,
                          source=PLUGIN_NAME, lines=self.evaluation.sku_ids, order=200, data=data)


# --- what blocks a coupon ---------------------------------------------------------------------


def buyer_uses(coupon_id: int, user_id: int) -> int:
    return _uses_by_coupon(user_id, [coupon_id]).get(coupon_id, 0)


def unusable_reason(coupon: Coupon | None, buyer, *, now=None, code_id=None, wallet_id=None,
                    uses: dict[int, int] | None = None) -> str | None:
    """Why ``buyer`` cannot use ``coupon`` now (expired, paused, exhausted, limit...), or None.

    ``uses`` are the buyer's use counts by coupon id when already read (:func:`_buyer_uses_of`).
    """
    now = now or utcnow()
    if coupon is None:
        return _("This coupon no longer exists.")
    if not coupon.active:
        return _("Coupon %(name)s is paused.", name=coupon.name)
    if coupon.starts_at is not None and now < coupon.starts_at:
        return _("Coupon %(name)s is not valid yet.", name=coupon.name)
    if coupon.ends_at is not None and now >= coupon.ends_at:
        return _("Coupon %(name)s has expired.", name=coupon.name)
    if coupon.exhausted:
        return _("Coupon %(name)s has run out.", name=coupon.name)
    used = uses.get(coupon.id, 0) if uses is not None else None
    if coupon.per_buyer_limit is not None and \
            (used if used is not None else _buyer_uses_memo(coupon.id, buyer.id)) >= coupon.per_buyer_limit:
        return _("You have already used coupon %(name)s.", name=coupon.name)
    if code_id is not None:
        row = db.session.get(CouponCode, code_id)
        if row is None or row.coupon_id != coupon.id or row.used_at is not None:
            return _("This coupon code has already been used.")
    if wallet_id is not None:
        row = db.session.get(WalletCoupon, wallet_id)
        if row is None or row.user_id != buyer.id or row.coupon_id != coupon.id or row.used_at is not None:
            return _("This coupon is no longer in your wallet.")
    return None


def row_id(value) -> int | None:
    """A client-sent id as a positive BIGINT, or None (the caller answers "not found")."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 1 <= number <= MAX_ROW_ID else None


# --- the cart's choice --------------------------------------------------------------------------


def cart_choice(cart) -> dict | None:
    value = (cart.data or {}).get(DATA_KEY) if cart is not None else None
    return value if isinstance(value, dict) else None


def _skus(cart) -> dict:
    return {line.sku_id: line.sku for line in (cart.lines if cart is not None else [])}


# The wallet is read by pricing (the pre-selected best coupon) and by the coupon box of the
# same page, and pricing runs more than once per page: once per request is enough.
WALLET_MEMO = "coupons.wallet"


def _memo(key, compute):
    memo = request_memo(WALLET_MEMO)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _buyer_uses_memo(coupon_id: int, user_id: int) -> int:
    # A buy-now checks its typed code, then prices with it: one read per request is enough
    # (a use recorded meanwhile forgets the memo; the use itself is a conditional UPDATE).
    return _memo(("used", coupon_id, user_id), lambda: buyer_uses(coupon_id, user_id))


def _coupon(coupon_id: int) -> Coupon | None:
    """The coupon by id, once per request. The session's identity map holds rows only while
    something else does: a coupon found by its typed code is gone again when pricing asks."""
    return _memo(("coupon", coupon_id), lambda: get_by_pk(Coupon, coupon_id))


def forget_wallet() -> None:
    """Drop this request's memoised wallet (after a claim, a use or a changed choice)."""
    forget_request_memo(WALLET_MEMO)


_WALLET_ROWS = joined_rows.JoinedEntities(WalletCoupon, Coupon)


@functools.cache
def _wallet_query(unused_only: bool):
    # Built once per process: the cart and checkout pages read the wallet on every view.
    # The rows with their coupons (WalletCoupon.coupon loads joined), read in Core and
    # built as loaded rows (storefront.joined_rows): the ORM's loading cost more.
    wallet, coupon = WalletCoupon.__table__, Coupon.__table__
    stmt = (select(*_WALLET_ROWS.columns).select_from(wallet.outerjoin(coupon, coupon.c.id == wallet.c.coupon_id))
            .where(wallet.c.user_id == bindparam("user_id")))
    if unused_only:
        stmt = stmt.where(wallet.c.used_at.is_(None))
    return stmt.order_by(wallet.c.id.desc())


def _load_wallet(buyer, unused_only: bool) -> list[WalletCoupon]:
    session = db.session()
    rows = []
    for row in joined_rows.read(session, _wallet_query(unused_only), {"user_id": buyer.id}):
        held, coupon = _WALLET_ROWS.objects(session, row)
        joined_rows.link(held, "coupon", coupon)
        rows.append(held)
    return rows


def wallet_rows(buyer, *, unused_only: bool = True) -> list[WalletCoupon]:
    if not unused_only:
        return _load_wallet(buyer, False)
    return list(_memo(("rows", buyer.id), lambda: _load_wallet(buyer, True)))


def _buyer_uses_of(buyer, coupon_ids) -> dict[int, int]:
    """The buyer's use counts of ``coupon_ids`` in one query."""
    return _uses_by_coupon(buyer.id, coupon_ids)


def _uses_by_coupon(user_id: int, coupon_ids) -> dict[int, int]:
    ids = sorted(set(coupon_ids))
    if not ids:
        return {}
    return dict(joined_rows.read(db.session(), _uses_by_coupon_query(), {"user_id": user_id, "ids": ids}))


@functools.cache
def _uses_by_coupon_query():
    # Built once and run in Core: asked at every coupon entry and checkout of a limited
    # coupon, where building it and the ORM's execution cost more than the look-up.
    return select(BuyerCount.coupon_id, BuyerCount.used).where(
        BuyerCount.user_id == bindparam("user_id"), BuyerCount.coupon_id.in_(bindparam("ids", expanding=True)))


def best_wallet_selection(cart, buyer, lines, delivery) -> Selection | None:
    """The wallet coupon giving the largest discount on this cart (ties: the one claimed first).

    Computed once per request for the same lines and delivery (two queries: the wallet and
    the buyer's use counts), however often the page prices the cart.
    """
    key = ("best", buyer.id, getattr(cart, "id", None),
           tuple((line.sku_id, line.quantity, line.subtotal) for line in lines),
           getattr(delivery, "code", None), getattr(delivery, "fee", None))
    return _memo(key, lambda: _best_wallet_selection(cart, buyer, lines, delivery))


def _best_wallet_selection(cart, buyer, lines, delivery) -> Selection | None:
    best = None
    skus = _skus(cart)
    now = utcnow()
    rows = sorted(wallet_rows(buyer), key=lambda r: r.id)
    uses = _memo(("uses", buyer.id), lambda: _buyer_uses_of(buyer, [r.coupon_id for r in rows])) if rows else {}
    for row in rows:
        if unusable_reason(row.coupon, buyer, now=now, wallet_id=row.id, uses=uses):
            continue
        result = evaluate(row.coupon, lines, skus, delivery)
        if result.applies and (best is None or result.discount > best.evaluation.discount):
            best = Selection(row.coupon, result, wallet_id=row.id, auto=True)
    return best


def selection_for(cart, buyer, lines, delivery) -> Selection | None:
    """The coupon this cart uses now (what pricing and the pages show), with its problem if any."""
    if cart is None or buyer is None or not getattr(buyer, "is_authenticated", True):
        return None
    choice = cart_choice(cart)
    if choice is None:
        return best_wallet_selection(cart, buyer, lines, delivery)
    if choice.get("none") or not choice.get("coupon_id"):
        return None
    # Pricing and validate_checkout ask the same question in one request: answer it once.
    key = ("chosen", buyer.id, cart.id, tuple(sorted((k, str(v)) for k, v in choice.items())),
           tuple((line.sku_id, line.quantity, line.subtotal) for line in lines),
           getattr(delivery, "code", None), getattr(delivery, "fee", None))
    return _memo(key, lambda: _chosen_selection(cart, buyer, lines, delivery, choice))


def _chosen_selection(cart, buyer, lines, delivery, choice: dict) -> Selection | None:
    coupon = _coupon(int(choice["coupon_id"]))
    code_id, wallet_id = choice.get("code_id"), choice.get("wallet_id")
    reason = unusable_reason(coupon, buyer, code_id=code_id, wallet_id=wallet_id)
    if coupon is None:
        return None
    result = evaluate(coupon, lines, _skus(cart), delivery)
    return Selection(coupon, result, code_id=code_id, wallet_id=wallet_id, code=choice.get("code"),
                     problem=reason or result.reason)


def _store_choice(cart: Cart, value: dict, keep: tuple = ()) -> None:
    """Write the choice into ``cart.data`` (read again under the write lock: other keys may have
    changed). ``keep`` are rows the caller answers with (the coupon): as read, not reloaded."""
    forget_wallet()
    # Not cart.id: the opening commit expired the cart, and reading it back (with its
    # lines) only to learn its id cost two queries.
    cart_id = loaded_id(cart)
    with write_transaction(keep=keep, keep_after=True):
        write_choice(cart_id, value)


def write_choice(cart_id: int, value: dict | None) -> dict:
    """Inside a write transaction: the cart's coupon choice set to ``value`` (None drops it:
    the cart's next checkout starts from the wallet pre-selection again), the other keys of
    ``Cart.data`` as they are now: other plugins may write them meanwhile, so the change is
    made inside the database, in one statement. Returns the new data."""
    params = {"cart_id": cart_id, "now": utcnow()}
    if value is not None:
        params["value"] = json.dumps(value)
    data = db.session.execute(_choice_write(db.engine.dialect.name, value is None), params).scalar_one_or_none()
    return data or {}


# One UPDATE ... RETURNING instead of a locked read and a write: a round trip less while
# the checkout holds the write lock (or the cart's row). The key is DATA_KEY (tests/plugins/
# coupons/test_choice_write.py, on both databases); a column holding no JSON object starts
# from an empty one.
_CHOICE_WRITES = {
    ("postgresql", False): "UPDATE carts SET data = (CASE WHEN jsonb_typeof(data) = 'object' THEN data "
                           "ELSE '{}'::jsonb END) || jsonb_build_object('coupons', CAST(:value AS jsonb)), "
                           "updated_at = :now WHERE id = :cart_id RETURNING data",
    ("postgresql", True): "UPDATE carts SET data = (CASE WHEN jsonb_typeof(data) = 'object' THEN data "
                          "ELSE '{}'::jsonb END) - 'coupons', updated_at = :now WHERE id = :cart_id RETURNING data",
    ("sqlite", False): "UPDATE carts SET data = json_set(CASE WHEN json_type(data) = 'object' THEN data "
                       "ELSE '{}' END, '$.coupons', json(:value)), updated_at = :now WHERE id = :cart_id "
                       "RETURNING data",
    ("sqlite", True): "UPDATE carts SET data = json_remove(CASE WHEN json_type(data) = 'object' THEN data "
                      "ELSE '{}' END, '$.coupons'), updated_at = :now WHERE id = :cart_id RETURNING data",
}


# Built once per dialect: the checkout writes the choice back inside its write transaction,
# and the coupon box on every apply.
@functools.cache
def _choice_write(dialect: str, drop: bool):
    columns = Cart.__table__.c
    return (text(_CHOICE_WRITES[dialect, drop])
            .bindparams(bindparam("now", type_=columns.updated_at.type))
            .columns(data=columns.data.type))


@functools.cache
def _by_code_query(model):
    return select(model).where(model.code == bindparam("code"))


def find_code(raw, field: str = "code") -> tuple[Coupon, CouponCode | None]:
    code = normalize_code(raw)
    if not CODE_RE.match(code):
        raise ValidationFailed(_("Enter a coupon code."), field=field, code="coupon_code_invalid")
    coupon = joined_rows.one_or_none(_by_code_query(Coupon), {"code": code})
    if coupon is not None and not coupon.single_use_codes:
        return _memo(("coupon", coupon.id), lambda: coupon), None  # pricing asks for it by id next
    row = joined_rows.one_or_none(_by_code_query(CouponCode), {"code": code})
    if row is None:
        raise ValidationFailed(_("This coupon code does not exist."), field=field, code="coupon_code_unknown")
    return _coupon(row.coupon_id), row


def _priced(cart, buyer, coupon=None):
    """The cart's priced lines and delivery, without any coupon (to check a new choice).

    Only a shipping coupon looks at the delivery (``rules.evaluate``): for any other
    ``coupon`` the delivery options (store stock look-ups) are not asked for."""
    lines = priced_lines(cart, buyer)
    if coupon is not None and coupon.kind != "shipping":
        return lines, None
    return lines, (chosen_delivery(cart, None, buyer) if lines else None)


def typed_code_choice(buyer, raw, field: str = "code") -> tuple[Coupon, dict]:
    """A typed code ``buyer`` may use now, and the cart choice naming it; a ValidationFailed
    on ``field`` for an unknown code or one that cannot be used (expired, run out, limit...)."""
    coupon, row = find_code(raw, field)
    reason = unusable_reason(coupon, buyer, code_id=row.id if row else None)
    if reason:
        raise ValidationFailed(reason, field=field, code="coupon_unusable")
    return coupon, {"coupon_id": coupon.id, "code_id": row.id if row else None, "wallet_id": None,
                    "code": normalize_code(raw)}


def apply_code(buyer, cart: Cart | None, raw) -> Coupon:
    """Use a typed code on the buyer's cart; a bad or unusable code changes nothing."""
    if cart is None or not cart.lines:
        raise ValidationFailed(_("Your cart is empty."), field="code", code="cart_empty")
    coupon, choice = typed_code_choice(buyer, raw)
    lines, delivery = _priced(cart, buyer, coupon)
    result = evaluate(coupon, lines, _skus(cart), delivery)
    if not result.applies:
        raise ValidationFailed(result.reason, field="code", code="coupon_not_applicable")
    _store_choice(cart, choice, keep=(coupon,))
    return coupon


def choose_for_buy_now(cart: Cart, choice: dict) -> None:
    """``buy_now_cart``: ``choice`` as the transient cart's, in memory only (the cart is never
    stored). Whether the coupon applies to the item is pricing's answer (``validate_checkout``)."""
    cart.data = {**(cart.data or {}), DATA_KEY: dict(choice)}


def choose_wallet_coupon(buyer, cart: Cart | None, wallet_id) -> Coupon:
    """Use a coupon of the buyer's wallet; another buyer's wallet entry does not exist for you."""
    if cart is None or not cart.lines:
        raise ValidationFailed(_("Your cart is empty."), field="wallet_id", code="cart_empty")
    key = row_id(wallet_id)
    row = db.session.get(WalletCoupon, key) if key is not None else None
    if row is None or row.user_id != buyer.id:
        raise NotFound(_("This coupon is not in your wallet."), field="wallet_id")
    reason = unusable_reason(row.coupon, buyer, wallet_id=row.id)
    if reason:
        raise ValidationFailed(reason, field="wallet_id", code="coupon_unusable")
    lines, delivery = _priced(cart, buyer, row.coupon)
    result = evaluate(row.coupon, lines, _skus(cart), delivery)
    if not result.applies:
        raise ValidationFailed(result.reason, field="wallet_id", code="coupon_not_applicable")
    _store_choice(cart, {"coupon_id": row.coupon_id, "code_id": None, "wallet_id": row.id, "code": None})
    return row.coupon


def remove_coupon(buyer, cart: Cart | None) -> None:
    """No coupon on this cart (also stops the wallet pre-selection)."""
    if cart is not None:
        _store_choice(cart, NO_COUPON)


# --- claiming -------------------------------------------------------------------------------------


def _ensure_counter(coupon_id: int, user_id: int) -> None:
    """The per-buyer counter row, created once (INSERT ... ON CONFLICT DO NOTHING)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(BuyerCount).values(coupon_id=coupon_id, user_id=user_id, used=0, claimed=0)
                       .on_conflict_do_nothing(index_elements=["coupon_id", "user_id"]))


def claimable_coupons(now=None) -> list[Coupon]:
    now = now or utcnow()
    rows = db.session.execute(select(Coupon).where(Coupon.claimable.is_(True), Coupon.active.is_(True))
                              .order_by(Coupon.id)).scalars()
    return [c for c in rows if c.is_live(now) and c.claim_quota_left]


def claim(buyer, coupon_id) -> WalletCoupon:
    """Put a claimable coupon in the buyer's wallet: the claim quota and the per-buyer limit hold
    under concurrency (conditional UPDATEs, row counts checked)."""
    key = row_id(coupon_id)
    coupon = db.session.get(Coupon, key) if key is not None else None
    if coupon is None or not coupon.claimable:
        raise NotFound(_("This coupon cannot be claimed."), field="coupon_id")
    now = utcnow()
    if not coupon.is_live(now):
        raise Conflict(_("Coupon %(name)s cannot be claimed now.", name=coupon.name), code="coupon_not_live")
    # Read before the write transaction, whose opening commit expires the coupon and the
    # buyer: inside, reading them would reload both while holding the write lock, on the
    # sale's first minute when everybody claims at once. The quota is the conditional
    # UPDATE's to decide, not these values.
    coupon_id, name, quota, buyer_id = coupon.id, coupon.name, coupon.claim_quota, buyer.id
    per_buyer = coupon.per_buyer_limit or 1
    forget_wallet()
    with write_transaction():
        taken = db.session.execute(text(
            "UPDATE coupons_coupons SET claimed = claimed + 1 WHERE id = :id AND claimable = :on "
            "AND active = :on AND (claim_quota IS NULL OR claimed < claim_quota)"),
            {"id": coupon_id, "on": True}).rowcount
        if taken != 1:
            raise Conflict(_("Coupon %(name)s has all been claimed.", name=name), code="coupon_claimed_out")
        _ensure_counter(coupon_id, buyer_id)
        mine = db.session.execute(text(
            "UPDATE coupons_buyer_counts SET claimed = claimed + 1 WHERE coupon_id = :c AND user_id = :u "
            "AND claimed < :n"), {"c": coupon_id, "u": buyer_id, "n": per_buyer}).rowcount
        if mine != 1:
            raise Conflict(_("You have already claimed coupon %(name)s.", name=name),
                           code="coupon_already_claimed")
        row = WalletCoupon(coupon_id=coupon_id, user_id=buyer_id, claimed_at=now)
        db.session.add(row)
        if quota is not None and db.session.scalar(text(
                "SELECT claimed FROM coupons_coupons WHERE id = :id"), {"id": coupon_id}) >= quota:
            # This claim took the last one: cached "claimable" answers (popups) must change now.
            bump_version()
    return row


def claimed_count(buyer, coupon_id: int) -> int:
    return db.session.scalar(select(BuyerCount.claimed).where(BuyerCount.coupon_id == coupon_id,
                                                              BuyerCount.user_id == buyer.id)) or 0


def claimed_counts(buyer, coupon_ids) -> dict[int, int]:
    """:func:`claimed_count` of several coupons in one query (missing = 0)."""
    ids = sorted(set(coupon_ids))
    if not ids:
        return {}
    return dict(db.session.execute(_claimed_counts_query(), {"user_id": buyer.id, "ids": ids}).all())


@functools.cache
def _claimed_counts_query():
    # Built once: the cart and checkout pages' coupon box asks on every view.
    return select(BuyerCount.coupon_id, BuyerCount.claimed).where(
        BuyerCount.user_id == bindparam("user_id"), BuyerCount.coupon_id.in_(bindparam("ids", expanding=True)))


__all__ = ["apply_code", "choose_wallet_coupon", "remove_coupon", "claim", "selection_for", "wallet_rows",
           "claimable_coupons", "unusable_reason", "normalize_code"]

"""Benchmark fixtures on top of ``flask storefront bench-data``.

Enables every installed plugin, adds the flash-sale product (stock = the
quota under test) and its coupon, creates the flash buyers with API tokens,
gives some buyers a cart, signs session cookies for the page scenarios (the
bench sets the shop's secret key, so it can sign them as the login page would)
and writes one request file per scenario plus ``manifest.json`` to ``out``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from storefront.clock import utcnow
from storefront.extensions import db

USER_AGENT = "storefront-bench"
FLASH_PRICE = 19_900
COUPON_CODE = "D11FLASH"
COUPON_AMOUNT = 1_000
PAGE_BUYERS = 50


def _tables():
    return db.metadata.tables


def enable_plugins(app) -> list[str]:
    from storefront.plugins.host import get_host
    from storefront.settings_models import PluginState

    host = get_host()
    names = sorted(host.plugins)
    for name in names:
        row = db.session.get(PluginState, name)
        if row is None:
            db.session.add(PluginState(name=name, enabled=True, settings={}, version=0))
        else:
            row.enabled, row.version = True, (row.version or 0) + 1
    db.session.commit()
    host.forget_states()
    return names


def _flash_product(stock: int, tag: str) -> tuple[int, int]:
    from storefront.catalog.models import Product, Sku

    product = Product(slug=f"double-11-flash-{tag}", name="Double-11 Flash Down Jacket",
                      description="Limited flash sale.", option_names=["Size"], active=True)
    db.session.add(product)
    db.session.flush()
    sku = Sku(product_id=product.id, code=f"D11-{tag}", options={"Size": "M"}, price=FLASH_PRICE, stock=stock,
              low_stock_threshold=0, active=True, position=0)
    db.session.add(sku)
    db.session.commit()
    return product.id, sku.id


def _coupon(limit: int, tag: str) -> dict | None:
    table = _tables().get("coupons_coupons")
    if table is None:
        return None
    now = utcnow()
    code = f"{COUPON_CODE}{tag.upper()}"
    coupon_id = db.session.execute(insert(table).values(
        name="Double-11 flash coupon", code=code, kind="fixed", percent_bp=0, max_discount=0,
        amount=COUPON_AMOUNT, step=0, tiers=[], min_spend=0, product_ids=[], exclude_presale=False,
        exclude_discounted=False, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=7),
        total_quantity=limit, used=0, per_buyer_limit=1, claimable=False, claim_quota=None, claimed=0,
        single_use_codes=False, active=True, created_at=now, updated_at=now).returning(table.c.id)).scalar_one()
    db.session.commit()
    return {"id": coupon_id, "code": code, "limit": limit}


def _flash_buyers(count: int, tag: str) -> list[tuple[str, int, int]]:
    """(token, address id, user id) per buyer; tokens are inserted as their SHA-256 like issue_api_token."""
    t = _tables()
    now = utcnow()
    first_user = (db.session.execute(select(func.coalesce(func.max(t["users"].c.id), 0))).scalar_one()) + 1
    first_address = (db.session.execute(select(func.coalesce(func.max(t["addresses"].c.id), 0))).scalar_one()) + 1
    password_hash = db.session.execute(select(t["users"].c.password_hash).limit(1)).scalar_one()
    users, addresses, tokens, out = [], [], [], []
    for i in range(count):
        uid, aid = first_user + i, first_address + i
        phone = f"139{uid % 10**8:08d}"
        users.append({"id": uid, "email": f"flash{uid}-{tag}@bench.example.com", "name": f"Flash buyer {uid}",
                      "phone": phone, "password_hash": password_hash, "role": "buyer", "is_active_account": True,
                      "session_token": secrets.token_hex(16), "created_at": now})
        addresses.append({"id": aid, "user_id": uid, "name": f"Flash buyer {uid}", "phone": phone,
                          "province": "Shanghai", "city": "Shanghai", "district": "Pudong",
                          "line1": f"{i + 1} Century Avenue", "postcode": "200120", "is_default": True})
        plaintext = "sft_bench_" + secrets.token_urlsafe(24)
        tokens.append({"user_id": uid, "token_hash": hashlib.sha256(plaintext.encode()).hexdigest(),
                       "created_at": now, "expires_at": now + timedelta(days=2), "revoked": False})
        out.append((plaintext, aid, uid))
    for name, rows in (("users", users), ("addresses", addresses), ("api_tokens", tokens)):
        for start in range(0, len(rows), 1000):
            db.session.execute(insert(t[name]), rows[start:start + 1000])
    db.session.commit()
    _reset_sequences(("users", "addresses"))
    return out


def _reset_sequences(names) -> None:
    if db.engine.dialect.name != "postgresql":
        return
    for name in names:
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                f"(SELECT MAX(id) FROM \"{name}\"))"))
    db.session.commit()


def session_cookie(app, user_id: int, session_token: str) -> str:
    """The signed session cookie Flask-Login would have set after a sign-in from this client."""
    from flask_login.utils import _create_identifier

    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                  headers={"User-Agent": USER_AGENT}):
        ident = _create_identifier()
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps({"_user_id": f"{user_id}:{session_token}", "_fresh": True, "_id": ident,
                              "csrf_token": secrets.token_hex(20)})
    return f"{app.config.get('SESSION_COOKIE_NAME', 'session')}={value}"


def _bench_buyers(limit: int, offset: int = 0) -> list[tuple[int, str]]:
    users = _tables()["users"]
    return [tuple(r) for r in db.session.execute(
        select(users.c.id, users.c.session_token).where(users.c.role == "buyer",
                                                       users.c.email.like("buyer%@bench.example.com"))
        .order_by(users.c.id).offset(offset).limit(limit))]


def _give_carts(app, buyers, skus) -> None:
    t = _tables()
    now = utcnow()
    for i, (uid, _token) in enumerate(buyers):
        existing = db.session.execute(select(t["carts"].c.id).where(t["carts"].c.user_id == uid)).scalar()
        cart_id = existing or db.session.execute(insert(t["carts"]).values(
            user_id=uid, token=None, data={}, updated_at=now).returning(t["carts"].c.id)).scalar_one()
        db.session.execute(t["cart_lines"].delete().where(t["cart_lines"].c.cart_id == cart_id))
        db.session.execute(insert(t["cart_lines"]), [
            {"cart_id": cart_id, "sku_id": skus[(2 * i) % len(skus)], "quantity": 1, "added_at": now},
            {"cart_id": cart_id, "sku_id": skus[(2 * i + 1) % len(skus)], "quantity": 2, "added_at": now}])
    db.session.commit()


def _tracked_orders(limit: int) -> list[tuple[int, str, str, str]]:
    """(user id, session token, order number, phone) of shipped courier orders, one per buyer."""
    t = _tables()
    orders, users = t["orders"], t["users"]
    first = (select(orders.c.user_id, func.max(orders.c.id).label("oid"))
             .where(orders.c.status.in_(("shipped", "completed")), orders.c.delivery_code == "courier")
             .group_by(orders.c.user_id).limit(limit).subquery())
    rows = db.session.execute(
        select(users.c.id, users.c.session_token, orders.c.number, orders.c.ship_phone)
        .join(first, first.c.user_id == users.c.id).join(orders, orders.c.id == first.c.oid)
        .order_by(users.c.id))
    return [tuple(r) for r in rows]


FLASH_DEPOSIT, FLASH_DEPOSIT_VALUE = 2_000, 4_000  # 定金膨胀: a deposit of 20 counts as 40 against the price


def _presale(product_id: int, sku_id: int, quota: int, mode: str = "full") -> dict:
    """Put the flash SKU on a presale with ``quota`` (plugins/presale's tables).

    ``deposit``: the Double-11 shape -- the buyer pays a deposit now, worth
    more than it costs against the price, and the balance in a window that
    opens later (after the run), so every accepted payment is a deposit.
    """
    t = _tables()
    now = utcnow()
    deposit = {"deposit": FLASH_DEPOSIT, "deposit_value": FLASH_DEPOSIT_VALUE,
               "balance_opens_at": now + timedelta(days=8), "balance_closes_at": now + timedelta(days=10),
               } if mode == "deposit" else {}
    campaign_id = db.session.execute(insert(t["presale_campaigns"]).values(
        product_id=product_id, mode=mode, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=7),
        promise_kind="days", ship_within_days=15, active=True, **deposit,
    ).returning(t["presale_campaigns"].c.id)).scalar_one()
    quota_id = db.session.execute(insert(t["presale_quotas"]).values(
        campaign_id=campaign_id, sku_id=sku_id, quota=quota, sold=0).returning(t["presale_quotas"].c.id)).scalar_one()
    db.session.commit()
    return {"campaign_id": campaign_id, "quota_id": quota_id, "quota": quota, "mode": mode,
            "deposit": deposit.get("deposit")}


def flash_round(app, out: Path, *, stock: int, buyers: int, coupon_limit: int | None, tag: str,
                presale: bool = False, presale_mode: str = "full") -> dict:
    """A fresh flash product, coupon and buyers for one flash run (a run consumes them).

    With ``presale`` the SKU sells from a presale quota of ``stock`` and keeps no
    spot stock; ``presale_mode`` is ``full`` (pay everything now) or ``deposit``.
    """
    out.mkdir(parents=True, exist_ok=True)
    with app.app_context():
        product_id, sku_id = _flash_product(0 if presale else stock, tag)
        campaign = _presale(product_id, sku_id, stock, presale_mode) if presale else None
        coupon = _coupon(coupon_limit, tag) if coupon_limit else None
        rows = _flash_buyers(buyers, tag)
    path = out / f"flash_buyers_{tag}.tsv"
    path.write_text("".join(f"{tok}\t{aid}\t{uid}\n" for tok, aid, uid in rows), encoding="utf-8")
    return {"product_id": product_id, "sku_id": sku_id, "stock": stock, "buyers": buyers, "coupon": coupon,
            "presale": campaign, "buyers_file": str(path), "tag": tag}


def open_balance(app, out: Path, flash: dict) -> dict:
    """The balance window of a deposit flash opens now (尾款): a buyers file of the deposit orders."""
    tokens = {}
    for line in Path(flash["buyers_file"]).read_text(encoding="utf-8").splitlines():
        token, _address, uid = line.split("\t")
        tokens[int(uid)] = token
    campaign_id = flash["presale"]["campaign_id"]
    with app.app_context():
        db.session.execute(text("UPDATE presale_orders SET balance_opens_at = :at WHERE campaign_id = :c"),
                           {"at": utcnow() - timedelta(minutes=1), "c": campaign_id})
        rows = db.session.execute(text(
            "SELECT o.number, o.user_id FROM orders o JOIN presale_orders p ON p.order_id = o.id "
            "WHERE p.campaign_id = :c AND o.paid_total > 0 AND o.status = 'pending_payment' ORDER BY o.id"),
            {"c": campaign_id}).all()
        db.session.commit()
        db.session.remove()
    path = out / f"balance_buyers_{flash['tag']}.tsv"
    path.write_text("".join(f"{tokens[uid]}\t{number}\n" for number, uid in rows), encoding="utf-8")
    return {"buyers_file": str(path), "orders": len(rows), "campaign_id": campaign_id, "tag": flash["tag"]}


def _aftersales_queue_requests(cookie: str) -> list[tuple]:
    """The queue as staff use it: open cases, filters, and a page deep into every case (keyset)."""
    from plugins.aftersales.models import Case

    base = "/admin/aftersales/"
    requests = [base, base + "?status=all", base + "?overdue=1", base + "?status=requested",
                base + "?assignee=none", base + "?kind=return_refund", base + "?status=refunded"]
    # A case about two thirds down the whole list: page N of "all" without OFFSET.
    total = db.session.scalar(select(func.count()).select_from(Case)) or 0
    if total > 100:
        anchor = db.session.execute(select(Case.id).order_by(Case.created_at, Case.id)
                                    .offset(total * 2 // 3).limit(1)).scalar()
        requests.append(base + f"?status=all&after={anchor}")
    return [("GET", url, cookie, "-") for url in requests]


def _fill_aftersales_metric_days() -> int:
    """What the sweep keeps (the metrics' daily roll-up); a freshly generated shop has not swept yet."""
    from plugins.aftersales import metric_days
    from plugins.aftersales.services import setting_int

    written = 0
    while True:
        n = metric_days.refresh(utcnow(), setting_int("first_response_minutes"))
        if not n:
            return written
        written += n


#: ``layout_floor``'s request: no such page, so its 404 is sign-in, plugin states and the layout.
LAYOUT_FLOOR_PATH = "/no-such-page"


def prepare(app, out: Path) -> dict:
    """Enable the plugins, give carts, sign cookies and write one request file per page scenario."""
    out.mkdir(parents=True, exist_ok=True)
    with app.app_context():
        plugins = enable_plugins(app)
        t = _tables()
        bench_products = db.session.execute(
            select(t["products"].c.slug).where(t["products"].c.slug.like("bench-product-%"))
            .order_by(t["products"].c.id).limit(200)).scalars().all()
        bench_skus = db.session.execute(
            select(t["skus"].c.id).where(t["skus"].c.code.like("B%-%"), t["skus"].c.stock > 10)
            .order_by(t["skus"].c.id).limit(400)).scalars().all()
        categories = db.session.execute(
            select(t["categories"].c.slug).where(t["categories"].c.slug.like("bench-%"))).scalars().all()
        cart_buyers = _bench_buyers(PAGE_BUYERS)
        _give_carts(app, cart_buyers, bench_skus)
        tracked = _tracked_orders(PAGE_BUYERS)
        users = t["users"]
        owner = db.session.execute(select(users.c.id, users.c.session_token)
                                   .where(users.c.role == "owner", users.c.email.like("owner%@bench.example.com"))
                                   .order_by(users.c.id).limit(1)).one()
        staff_cookie = session_cookie(app, owner[0], owner[1])
        cart_cookies = [session_cookie(app, uid, tok) for uid, tok in cart_buyers]
        order_cookies = [(session_cookie(app, uid, tok), number, phone) for uid, tok, number, phone in tracked]
        aftersales = "aftersales" in plugins
        if aftersales:
            _fill_aftersales_metric_days()
            aftersales_queue = _aftersales_queue_requests(staff_cookie)
    words = ["Cotton", "Linen", "Denim", "Jacket", "Tee", "Merino"]
    scenarios = {
        "ref_hello": [("GET", "/_ref/hello", "-", "-")],
        "ref_product": [("GET", f"/_ref/products/{i}", "-", "-") for i in range(1, 201)],
        "ref_checkout": [("POST", "/_ref/checkout", "-", json.dumps({"product_id": i})) for i in range(1, 201)],
        "home": [("GET", "/", "-", "-")],
        "catalog_list": [("GET", "/products", "-", "-")] + [("GET", f"/c/{slug}", "-", "-") for slug in categories],
        "search": [("GET", f"/products?q={w}", "-", "-") for w in words],
        # Signed-in buyers browsing (coupon hunters log in first): no page cache, every page rendered.
        "catalog_signed_in": [("GET", path, c, "-") for c, path in zip(cart_cookies, itertools.cycle(
            ["/products"] + [f"/c/{slug}" for slug in categories] + [f"/products?q={w}" for w in words]))],
        "product_page": [("GET", f"/products/{slug}", "-", "-") for slug in bench_products],
        "cart_page": [("GET", "/cart/", c, "-") for c in cart_cookies],
        "checkout_page": [("GET", "/checkout/", c, "-") for c in cart_cookies],
        # The same buyers asking for a page that does not exist: the least a signed-in page costs.
        "layout_floor": [("GET", LAYOUT_FLOOR_PATH, c, "-") for c in cart_cookies],
        "buyer_orders": [("GET", "/orders/", c, "-") for c, _n, _p in order_cookies],
        "order_detail": [("GET", f"/orders/{n}", c, "-") for c, n, _p in order_cookies],
        "tracking_page": [("GET", f"/p/tracking/orders/{n}", c, "-") for c, n, _p in order_cookies],
        "staff_orders": [("GET", "/admin/orders", staff_cookie, "-"),
                         ("GET", "/admin/orders?status=paid", staff_cookie, "-"),
                         ("GET", "/admin/orders?status=shipped", staff_cookie, "-"),
                         ("GET", "/admin/orders?overdue=y", staff_cookie, "-")]
        + [("GET", f"/admin/orders?q={p}", staff_cookie, "-") for _c, _n, p in order_cookies[:10] if p],
        "staff_dashboard": [("GET", "/admin/", staff_cookie, "-")],
    }
    if aftersales:
        scenarios["aftersales_queue"] = aftersales_queue
        scenarios["aftersales_metrics"] = [("GET", "/admin/aftersales/money/metrics", staff_cookie, "-")]
    for name, rows in scenarios.items():
        (out / f"{name}.tsv").write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    manifest = {"plugins": plugins, "scenarios": sorted(scenarios)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest

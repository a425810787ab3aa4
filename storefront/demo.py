"""The demo shop: migrated and seeded on the first ``python wsgi.py``.

"Lumen Clothing": about thirty garments in seven categories, colour × size
SKUs priced in fen, a few nearly sold out and a couple sold out, drawn
pictures sent through the real upload pipeline, and three demo logins.
"""
from __future__ import annotations

import logging
import random
import secrets
import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)

DEMO_LOGINS = (
    ("owner", "seller@example.com", "seller-demo-123", "Lin Mei"),
    ("staff", "staff@example.com", "staff-demo-123", "Zhou Kai"),
    ("buyer", "buyer@example.com", "buyer-demo-123", "Wang Fang"),
)

CATEGORIES = [("t-shirts", "T-shirts", "tshirt"), ("shirts", "Shirts", "shirt"), ("knitwear", "Knitwear", "knit"),
              ("dresses", "Dresses", "dress"), ("trousers", "Trousers", "trousers"),
              ("jackets", "Jackets", "jacket"), ("accessories", "Accessories", "bag")]

COLOURS = {"Black": (40, 40, 44), "White": (236, 236, 230), "Navy": (34, 52, 96), "Oat": (214, 196, 160),
           "Sage": (150, 172, 140), "Rust": (176, 88, 52), "Grey": (140, 140, 146), "Sky": (120, 170, 214),
           "Burgundy": (120, 30, 50), "Camel": (190, 140, 90), "Olive": (110, 116, 60), "Pink": (232, 160, 170)}

SIZES = ["S", "M", "L", "XL"]

# (category slug, name, price in fen, compare-at or None, colours, description)
PRODUCTS = [
    ("t-shirts", "Everyday Cotton Crew Tee", 5900, None, ["White", "Black", "Grey"],
     "180 g combed Xinjiang cotton.\nRelaxed fit, pre-shrunk."),
    ("t-shirts", "Heavyweight Boxy Tee", 8900, 12900, ["Oat", "Black"], "260 g cotton jersey, dropped shoulders."),
    ("t-shirts", "Linen Blend Pocket Tee", 9900, None, ["Sage", "White"], "Cool linen-cotton blend for humid summers."),
    ("t-shirts", "Graphic Tee \"Night Market\"", 7900, None, ["Black", "Navy"], "Water-based print. Wash inside out."),
    ("t-shirts", "Long-Sleeve Waffle Tee", 11900, None, ["Oat", "Grey", "Rust"], "Waffle knit that layers well."),
    ("shirts", "Oxford Button-Down Shirt", 19900, None, ["White", "Sky"], "Classic oxford weave, mother-of-pearl buttons."),
    ("shirts", "Washed Linen Shirt", 25900, 32900, ["White", "Sage", "Navy"], "Stone-washed linen, soft from day one."),
    ("shirts", "Cuban Collar Rayon Shirt", 16900, None, ["Rust", "Black"], "Drapey rayon with a camp collar."),
    ("shirts", "Flannel Check Overshirt", 22900, None, ["Burgundy", "Olive"], "Brushed cotton flannel, two chest pockets."),
    ("knitwear", "Merino Crew Sweater", 39900, None, ["Navy", "Grey", "Camel"], "Extra-fine merino, machine washable."),
    ("knitwear", "Chunky Cable Cardigan", 45900, 59900, ["Oat", "Burgundy"], "Hand-feel cable knit with horn buttons."),
    ("knitwear", "Cashmere Blend Turtleneck", 52900, None, ["Black", "Camel"], "30% cashmere, 70% wool."),
    ("knitwear", "Cotton Knit Polo", 19900, None, ["Sage", "White"], "Breathable knit polo for the office."),
    ("dresses", "Pleated Midi Dress", 32900, None, ["Black", "Pink"], "Fine pleats that travel without creasing."),
    ("dresses", "Linen Wrap Dress", 36900, 45900, ["Sage", "Rust"], "Adjustable wrap tie, side pockets."),
    ("dresses", "Qipao-Inspired Slip Dress", 49900, None, ["Burgundy", "Navy"], "Mandarin collar, satin finish."),
    ("dresses", "Cotton Shirt Dress", 26900, None, ["White", "Sky"], "Poplin shirt dress with a belt."),
    ("trousers", "Tapered Chinos", 22900, None, ["Camel", "Navy", "Olive"], "Stretch twill, tapered leg."),
    ("trousers", "Wide-Leg Pleated Trousers", 29900, None, ["Black", "Grey"], "High waist, double pleats."),
    ("trousers", "Selvedge Straight Jeans", 42900, None, ["Navy", "Black"], "13.5 oz selvedge denim from Guangdong."),
    ("trousers", "Drawstring Linen Pants", 19900, 25900, ["Oat", "Olive"], "Elastic waist, relaxed fit."),
    ("jackets", "Lightweight Down Jacket", 59900, 69900, ["Black", "Navy", "Olive"], "90% white duck down, packs into its pocket."),
    ("jackets", "Chore Jacket", 39900, None, ["Navy", "Rust"], "Cotton canvas workwear jacket."),
    ("jackets", "Wool Blend Overcoat", 69900, None, ["Camel", "Grey"], "Single-breasted, fully lined."),
    ("jackets", "Windproof Hooded Parka", 49900, None, ["Olive", "Black"], "Water-repellent shell for spring rain."),
    ("accessories", "Canvas Tote Bag", 7900, None, ["Oat", "Black"], "12 oz canvas, inside pocket."),
    ("accessories", "Silk Scarf", 15900, None, ["Burgundy", "Sky"], "Mulberry silk from Hangzhou, hand-rolled edges."),
    ("accessories", "Merino Beanie", 9900, None, ["Grey", "Rust", "Navy"], "Rib-knit merino beanie."),
    ("accessories", "Leather Belt", 12900, 16900, ["Black", "Camel"], "Full-grain leather, brass buckle."),
    ("accessories", "Crossbody Phone Bag", 8900, None, ["Black", "Pink"], "Fits a large phone and cards."),
]
ONE_SIZE = {"Canvas Tote Bag", "Silk Scarf", "Merino Beanie", "Crossbody Phone Bag", "Leather Belt"}
SOLD_OUT = {"Cashmere Blend Turtleneck", "Qipao-Inspired Slip Dress"}
LOW_STOCK = {"Heavyweight Boxy Tee", "Merino Crew Sweater", "Linen Wrap Dress", "Lightweight Down Jacket",
             "Selvedge Straight Jeans"}


def _initials(name: str) -> str:
    return "".join(w[0] for w in name.replace('"', "").split() if w[:1].isalpha())[:3]


def _has_products() -> bool:
    from .catalog.models import Product
    from .extensions import db

    return db.session.execute(select(Product.id).limit(1)).first() is not None


def seed_demo() -> bool:
    """Seed the demo shop when the database has no products; True if seeded.

    Idempotent: a second call (or a second process racing the first) finds
    products, or loses on the unique slugs, and does nothing.
    """
    from .catalog import images as image_store
    from .database import write_transaction

    if _has_products():
        return False
    kinds = {slug: kind for slug, _name, kind in CATEGORIES}
    # Pictures first, outside the write transaction: drawing and encoding
    # take a while and must not hold the database's write lock.
    pictures: dict[str, list] = {}
    for cat, name, _price, _cmp, colours, _desc in PRODUCTS:
        pictures[name] = [image_store.store_upload(image_store.draw_garment(kinds[cat], COLOURS[c], _initials(name)))
                          for c in colours[:2]]
    created = [img.filename for imgs in pictures.values() for img in imgs]
    try:
        with write_transaction():
            if _has_products():
                raise _AlreadySeeded
            _insert_all(pictures)
    except (_AlreadySeeded, IntegrityError):
        for filename in created:
            image_store.remove_image_file(filename)
        return False
    except BaseException:
        for filename in created:
            image_store.remove_image_file(filename)
        raise
    return True


class _AlreadySeeded(Exception):
    """Another process seeded between our first check and our write lock."""


def _insert_all(pictures: dict[str, list]) -> None:
    from .accounts.models import Address, Role, User
    from .catalog.models import Category, Product, ProductImage, Sku
    from .catalog.services import slugify
    from .clock import utcnow
    from .extensions import db
    from .plugins.host import get_host
    from .settings import set_settings

    rng = random.Random(11)  # the same shop on every machine
    users = {}
    for role, email, password, name in DEMO_LOGINS:
        user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            user = User(email=email, name=name, phone="13800138000", role=Role(role))
            user.set_password(password)
            db.session.add(user)
        users[role] = user
    if not users["buyer"].addresses:
        users["buyer"].addresses.append(Address(name="Wang Fang", phone="13800138000", province="Zhejiang",
                                                city="Hangzhou", district="Xihu", postcode="310012",
                                                line1="No. 18 Wensan Road, Building 3, Room 502", is_default=True))
    categories = {}
    for position, (slug, name, _kind) in enumerate(CATEGORIES):
        categories[slug] = Category(slug=slug, name=name, position=position)
        db.session.add(categories[slug])
    now = utcnow()
    created = []
    for index, (cat, name, price, compare, colours, desc) in enumerate(PRODUCTS):
        slug = slugify(name)
        one_size = name in ONE_SIZE
        product = Product(slug=slug, name=name, description=desc, category=categories[cat], active=True,
                          option_names=["Colour"] if one_size else ["Colour", "Size"], created_at=now)
        position = 0
        for colour in colours:
            for size in ([None] if one_size else SIZES[: 3 if cat == "accessories" else 4]):
                code = f"LC-{index + 1:03d}-{colour[:3].upper()}" + (f"-{size}" if size else "")
                stock = 0 if name in SOLD_OUT else rng.randint(8, 60)
                if name in LOW_STOCK and position == 1:
                    stock = rng.randint(1, 3)
                product.skus.append(Sku(code=code, options=[colour] if one_size else [colour, size],
                                        price=price + (2000 if size == "XL" and price >= 30000 else 0),
                                        compare_at_price=compare, stock=stock, low_stock_threshold=5,
                                        position=position, active=True))
                position += 1
        for pos, (img, colour) in enumerate(zip(pictures[name], colours)):
            product.images.append(ProductImage(filename=img.filename, width=img.width, height=img.height,
                                               alt=f"{name} in {colour}", position=pos))
        db.session.add(product)
        created.append(product)
    set_settings({
        "shop_name": "Lumen Clothing",
        "shop_tagline": "Everyday clothing, made to last. Free returns within 7 days.",
        "footer_text": "Lumen Clothing · Hangzhou · Customer service 9:00–22:00",
        "social_weibo": "https://weibo.com/lumenclothing",
        "social_xiaohongshu": "https://www.xiaohongshu.com/user/profile/lumenclothing",
        "social_bilibili": "https://space.bilibili.com/lumenclothing",
        "social_zhihu": "https://www.zhihu.com/org/lumenclothing",
        "social_wechat": "https://mp.weixin.qq.com/lumenclothing",
    })
    db.session.flush()
    _demo_orders(users["buyer"], created, now, rng)
    _enable_plugins()
    get_host().hook.demo_data(now=now)


def _enable_plugins() -> None:
    """Switch every installed plugin on in the demo, so each shows what it does.

    A real shop starts with them off; the seller enables them in Admin → Plugins.
    """
    from .extensions import db
    from .plugins.host import get_host
    from .settings_models import PluginState

    host = get_host()
    for name in host.plugins:
        state = db.session.get(PluginState, name)
        if state is None:
            db.session.add(PluginState(name=name, enabled=True, settings={}))
        else:
            state.enabled = True
    db.session.flush()
    host.forget_states()


# (status, placed how long ago)
DEMO_ORDERS = [("completed", timedelta(days=20)), ("shipped", timedelta(days=3)), ("paid", timedelta(hours=5)),
               ("pending_payment", timedelta(minutes=5)), ("closed", timedelta(days=2))]


def _demo_orders(buyer, products, now, rng) -> None:
    """A few historic orders so the admin and "My orders" are not empty.

    Seed data, written as finished history: rows and timeline entries are
    inserted directly (no transitions, no after-commit hooks, so no e-mails
    about the past) and stock is left as seeded.
    """
    from .extensions import db
    from .orders.models import Order, OrderEvent, OrderLine
    from .orders.status import OrderStatus
    from .payments.models import OrderPayment, Payment, PaymentStatus
    from .settings import get_setting

    address = buyer.addresses[0]
    currency = "CNY"
    fee = int(get_setting("courier_fee"))
    buyable = [s for p in products for s in p.skus if s.stock > 3]
    for n, (status, ago) in enumerate(DEMO_ORDERS):
        placed = now - ago
        skus = rng.sample(buyable, 2 if n % 2 == 0 else 1)
        lines = [(sku, rng.randint(1, 2)) for sku in skus]
        subtotal = sum(sku.price * qty for sku, qty in lines)
        paid = status in ("paid", "shipped", "completed")
        payment = Payment(reference=secrets.token_hex(12), idempotency_key=f"demo-{secrets.token_hex(8)}",
                          user_id=buyer.id, provider="test", amount=subtotal + fee, currency=currency,
                          status=PaymentStatus.PAID if paid else (
                              PaymentStatus.CANCELLED if status == "closed" else PaymentStatus.PENDING),
                          created_at=placed, paid_at=placed + timedelta(minutes=2) if paid else None)
        db.session.add(payment)
        db.session.flush()
        order = Order(number=placed.strftime("%Y%m%d") + f"{rng.randrange(10**8):08d}", user_id=buyer.id,
                      payment_id=payment.id, status=OrderStatus(status), currency=currency, subtotal=subtotal,
                      discount_total=0, shipping_total=fee, total=subtotal + fee, delivery_code="courier",
                      delivery_label=str(get_setting("courier_label")), ship_name=address.name,
                      ship_phone=address.phone, ship_address=address.one_line(), contact_email=buyer.email,
                      placed_at=placed, pay_deadline=placed + timedelta(minutes=int(get_setting("unpaid_close_minutes"))),
                      data={"demo": True})
        events = [("placed", None, None, placed, "")]
        order.payment_links.append(OrderPayment(payment_id=payment.id, amount=order.total, created_at=placed))
        if paid:
            order.paid_total = order.total
            order.paid_at = payment.paid_at
            order.ship_by = order.paid_at + timedelta(hours=int(get_setting("ship_within_hours")))
            events.append(("status", "pending_payment", "paid", order.paid_at, ""))
        if status in ("shipped", "completed"):
            order.shipped_at = placed + timedelta(hours=20)
            order.carrier, order.tracking_number = "SF Express", f"SF{rng.randrange(10**12):012d}"
            order.auto_confirm_at = order.shipped_at + timedelta(days=int(get_setting("auto_confirm_days")))
            events.append(("status", "paid", "shipped", order.shipped_at,
                           f"{order.carrier} {order.tracking_number}"))
        if status == "completed":
            order.completed_at = order.shipped_at + timedelta(days=3)
            events.append(("status", "shipped", "completed", order.completed_at, ""))
        if status == "closed":
            order.closed_at, order.close_reason = order.pay_deadline, "unpaid_timeout"
            events.append(("status", "pending_payment", "closed", order.closed_at, "unpaid_timeout"))
        db.session.add(order)
        db.session.flush()
        for sku, qty in lines:
            db.session.add(OrderLine(order_id=order.id, sku_id=sku.id, product_id=sku.product_id,
                                     product_name=sku.product.name, sku_code=sku.code, sku_label=sku.label,
                                     unit_price=sku.price, quantity=qty, line_subtotal=sku.price * qty, discount=0,
                                     paid_amount=sku.price * qty, refunded_amount=0, data={}))
        for kind, before, after, at, reason in events:
            by_buyer = kind == "placed" or after == "paid" or after == "completed" and n % 2 == 0
            db.session.add(OrderEvent(order_id=order.id, kind=kind, at=at, from_status=before, to_status=after,
                                      actor_kind="buyer" if by_buyer else ("staff" if after == "shipped" else "system"),
                                      actor_id=buyer.id if by_buyer else None,
                                      actor_label=buyer.email if by_buyer else ("staff@example.com" if after == "shipped"
                                                                                else "system"),
                                      reason=reason, source="core", public=True, data={}))


def prepare_demo(app) -> None:
    """Upgrade the schema, seed on first start and print the demo logins."""
    from .database import upgrade_database

    upgrade_database("heads")
    seeded = seed_demo()
    prefix = app.config.get("STOREFRONT_URL_PREFIX", "")
    import os

    port = os.environ.get("PORT", "5000")
    print(f"\n  {'Seeded the demo shop.' if seeded else 'Demo shop ready.'}")
    print(f"  Shop:  http://127.0.0.1:{port}{prefix}/")
    print(f"  Admin: http://127.0.0.1:{port}{prefix}/admin/")
    for role, email, password, _name in DEMO_LOGINS:
        print(f"  {role:<6} {email} / {password}")
    print()


def start_background_worker(app, interval: float = 30.0) -> threading.Thread:
    """Run sweeps and outbox delivery in a daemon thread for the single-process demo.

    Production runs the Huey worker instead; this keeps ``python wsgi.py`` a
    one-command demo. A committed message wakes the thread for a delivery pass
    (what the Huey task does in production), so a reset link shows at once.
    Errors are logged and the loop carries on. Setting the returned thread's
    ``stop`` event ends it (tests).
    """
    state = app.extensions["storefront"]
    existing = getattr(state, "demo_worker", None)
    if existing is not None and existing.is_alive():
        return existing

    def run(jobs) -> None:
        from .extensions import db

        with app.app_context():
            for job in jobs:
                try:
                    job()
                except Exception:
                    log.exception("demo worker: %s failed", job.__name__)
                    db.session.rollback()
            db.session.remove()

    wake = threading.Event()
    stop = _StopEvent(wake)

    def loop() -> None:
        from .notify.delivery import deliver_pending
        from .orders.sweeps import run_all_sweeps

        jobs = (run_all_sweeps, deliver_pending)
        while not stop.is_set():
            wake.clear()  # before the pass: a message committed during it wakes the next one
            try:
                run(jobs)
            except Exception:  # never let the thread die (app context trouble etc.)
                log.exception("demo worker iteration failed")
            jobs = (deliver_pending,) if wake.wait(interval) else (run_all_sweeps, deliver_pending)
        if getattr(state, "wake_delivery", None) == wake.set:
            state.wake_delivery = None

    thread = threading.Thread(target=loop, name="storefront-demo-worker", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    state.demo_worker = thread
    state.wake_delivery = wake.set
    thread.start()
    return thread


class _StopEvent(threading.Event):
    """The demo worker's stop flag: setting it also wakes the thread from its wait."""

    def __init__(self, wake: threading.Event):
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake.set()

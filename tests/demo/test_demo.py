"""The demo shop: seeded once, complete, fast enough to run on first start."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from storefront import demo
from storefront.accounts.models import Role, User
from storefront.catalog.models import Category, Product, ProductImage, Sku
from storefront.extensions import db
from storefront.settings import get_setting

from ..factories import login, make_product


def test_seed_creates_a_complete_shop_once(app, upload_dir):
    assert demo.seed_demo() is True
    products = db.session.execute(select(Product)).scalars().all()
    assert len(products) >= 28
    assert all(p.skus and p.images for p in products)
    assert {c.name for c in db.session.execute(select(Category)).scalars()} >= {
        "T-shirts", "Shirts", "Knitwear", "Dresses", "Trousers", "Jackets", "Accessories"}
    prices = [s.price for s in db.session.execute(select(Sku)).scalars()]
    assert min(prices) >= 5900 and max(prices) <= 71900
    stocks = {p.name: [s.stock for s in p.skus] for p in products}
    assert sum(1 for v in stocks.values() if all(s == 0 for s in v)) >= 2  # sold out
    assert sum(1 for v in stocks.values() if any(1 <= s <= 3 for s in v)) >= 3  # almost gone
    assert any(s.compare_at_price for p in products for s in p.skus)
    for image in db.session.execute(select(ProductImage)).scalars():
        assert (upload_dir / image.filename).is_file()
    assert get_setting("shop_name") == "Lumen Clothing"
    assert get_setting("social_weibo")
    roles = {u.email: u.role for u in db.session.execute(select(User)).scalars()}
    assert roles == {"seller@example.com": Role.OWNER, "staff@example.com": Role.STAFF,
                     "buyer@example.com": Role.BUYER}
    buyer = db.session.execute(select(User).filter_by(email="buyer@example.com")).scalar_one()
    assert buyer.check_password("buyer-demo-123") and buyer.addresses

    files = sorted(p.name for p in upload_dir.iterdir())
    counts = (db.session.scalar(select(func.count(Product.id))), db.session.scalar(select(func.count(Sku.id))))
    assert demo.seed_demo() is False
    assert (db.session.scalar(select(func.count(Product.id))), db.session.scalar(select(func.count(Sku.id)))) == counts
    assert sorted(p.name for p in upload_dir.iterdir()) == files


def test_seed_does_nothing_when_products_exist(app, upload_dir):
    make_product()
    assert demo.seed_demo() is False
    assert db.session.scalar(select(func.count(Product.id))) == 1
    assert not upload_dir.exists() or not any(upload_dir.iterdir())


def test_demo_logins_work_and_pages_render(app, client, upload_dir):
    demo.seed_demo()
    html = client.get("/").get_data(as_text=True)
    assert "Lumen Clothing" in html and "Almost gone" in html
    product = db.session.execute(select(Product).order_by(Product.id)).scalars().first()
    page = client.get(f"/products/{product.slug}")
    assert page.status_code == 200
    cover = product.images[0].filename
    assert client.get(f"/media/{cover}").status_code == 200
    staff = db.session.execute(select(User).filter_by(email="staff@example.com")).scalar_one()
    login(client, staff, password="staff-demo-123")
    assert client.get("/admin/products").status_code == 200


def test_demo_data_hook_is_called(app, upload_dir):
    from storefront.plugins import hookimpl
    from storefront.plugins.host import get_host

    seen = []

    class Plugin:
        @hookimpl
        def demo_data(self, now):
            seen.append(now)

    pm = get_host(app).pm
    pm.register(Plugin(), name="test-demo-data")
    try:
        demo.seed_demo()
    finally:
        pm.unregister(name="test-demo-data")
    assert len(seen) == 1


def test_background_worker_survives_failing_jobs(app, monkeypatch):
    from storefront.notify import delivery as notify_delivery
    from storefront.orders import sweeps

    calls = {"sweeps": 0, "deliver": 0}
    done = threading.Event()

    def failing_sweeps(now=None):
        calls["sweeps"] += 1
        raise RuntimeError("sweep bug")

    def deliver(limit=100):
        calls["deliver"] += 1
        if calls["deliver"] >= 2:
            done.set()
        return 0

    monkeypatch.setattr(sweeps, "run_all_sweeps", failing_sweeps)
    monkeypatch.setattr(notify_delivery, "deliver_pending", deliver)
    monkeypatch.setattr(app.extensions["storefront"], "demo_worker", None, raising=False)
    thread = demo.start_background_worker(app, interval=0.01)
    try:
        assert thread.daemon
        assert done.wait(20), "worker stopped after a failing sweep"
        assert thread.is_alive() and calls["sweeps"] >= 2
        # a second start returns the running thread instead of starting another
        assert demo.start_background_worker(app) is thread
    finally:
        thread.stop.set()
        thread.join(20)
    assert not thread.is_alive()


def test_demo_orders_cover_statuses_and_pages_render(app, client, upload_dir):
    from storefront.orders.models import Order

    demo.seed_demo()
    orders = db.session.execute(select(Order)).scalars().all()
    assert {o.status.value for o in orders} >= {"pending_payment", "paid", "shipped", "completed", "closed"}
    for order in orders:
        assert order.total == sum(line.paid_amount for line in order.lines) + order.shipping_total
        assert order.events and order.events[0].kind == "placed"
    buyer = db.session.execute(select(User).filter_by(email="buyer@example.com")).scalar_one()
    login(client, buyer, password="buyer-demo-123")
    mine = client.get("/orders/")
    assert mine.status_code == 200
    shipped = next(o for o in orders if o.status.value == "shipped")
    assert shipped.number in mine.get_data(as_text=True)
    client.post("/account/logout")
    db.session.remove()
    seller = db.session.execute(select(User).filter_by(email="seller@example.com")).scalar_one()
    login(client, seller, password="seller-demo-123")
    assert client.get("/admin/orders").status_code == 200

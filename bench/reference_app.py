"""Reference endpoints: what the same stack costs with no shop on top.

Served by the same gunicorn, in the same process, behind the same WSGI
dispatcher as the shop (see ``bench/server.py``), against the same database,
so the shop's figures can be read as ratios to these on a noisy machine:

(a) ``GET  /_ref/hello``          bare Flask
(b) ``GET  /_ref/products/<id>``  Flask + Flask-SQLAlchemy: one SELECT, one small template
(c) ``POST /_ref/checkout``       one conditional stock UPDATE + one order INSERT + two line
                                  INSERTs in one transaction (the floor of any correct checkout)

Its three tables (``bench_ref_*``) are created by ``create_tables`` and are
not part of the product's schema or migrations.
"""
from __future__ import annotations

import contextvars
import secrets
from datetime import datetime, timezone

from flask import Flask, abort, jsonify, render_template, request
from flask_sqlalchemy import SQLAlchemy
from jinja2 import DictLoader
from sqlalchemy import Integer, String, event, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

REF_PRODUCTS = 200
REF_STOCK = 1_000_000_000  # never the limit: (c) measures the write path, not a sell-out


class Base(DeclarativeBase):
    pass


ref_db = SQLAlchemy(model_class=Base)
_immediate = contextvars.ContextVar("bench_ref_immediate", default=False)


class RefProduct(ref_db.Model):
    __tablename__ = "bench_ref_products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000))
    price: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)


class RefOrder(ref_db.Model):
    __tablename__ = "bench_ref_orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    total: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24))
    placed_at: Mapped[str] = mapped_column(String(32))


class RefOrderLine(ref_db.Model):
    __tablename__ = "bench_ref_order_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(Integer, index=True)
    product_id: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)


PRODUCT_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ p.name }}</title></head>
<body><h1>{{ p.name }}</h1><p>{{ p.description }}</p><p>¥{{ '%.2f'|format(p.price / 100) }}</p>
<p>{{ 'In stock' if p.stock > 0 else 'Sold out' }}</p></body></html>"""


def create_reference_app(database_uri: str) -> Flask:
    app = Flask("bench_reference")
    # A file-like template through Jinja's loader, compiled once and cached as
    # in any Flask app: render_template_string would compile it on every
    # request (~2.8 ms here), inflating (b) and every ratio read against it.
    app.jinja_loader = DictLoader({"bench_ref_product.html": PRODUCT_TEMPLATE})
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri
    if database_uri.startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    else:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    ref_db.init_app(app)
    with app.app_context():
        _configure_sqlite(ref_db.engine)

    @app.get("/hello")
    def hello():
        return "Hello, World!"

    @app.get("/products/<int:product_id>")
    def product(product_id: int):
        row = ref_db.session.execute(select(RefProduct).where(RefProduct.id == product_id)).scalar_one_or_none()
        if row is None:
            abort(404)
        return render_template("bench_ref_product.html", p=row)

    @app.post("/checkout")
    def checkout():
        product_id = request.get_json(silent=True, force=True) or {}
        product_id = int(product_id.get("product_id") or 1)
        session = ref_db.session
        token = _immediate.set(True)
        try:
            session.commit()  # start the write transaction fresh (BEGIN IMMEDIATE on SQLite)
            price = session.execute(
                text("UPDATE bench_ref_products SET stock = stock - 1 WHERE id = :id AND stock >= 1 "
                     "RETURNING price"), {"id": product_id}).scalar_one_or_none()
            if price is None:
                session.rollback()
                return jsonify(error="out_of_stock"), 409
            number = secrets.token_hex(8)
            order_id = session.execute(insert(RefOrder).values(
                number=number, total=price + 1000, status="pending_payment",
                placed_at=datetime.now(timezone.utc).isoformat()).returning(RefOrder.id)).scalar_one()
            session.execute(insert(RefOrderLine), [
                {"order_id": order_id, "product_id": product_id, "label": "item", "quantity": 1, "amount": price},
                {"order_id": order_id, "product_id": None, "label": "shipping", "quantity": 1, "amount": 1000}])
            session.commit()
        finally:
            _immediate.reset(token)
        return jsonify(number=number, total=price + 1000), 201

    return app


def _configure_sqlite(engine) -> None:
    """The same SQLite settings as the shop (storefront.database.configure_engine)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # Reads outside a transaction, the checkout's in BEGIN IMMEDIATE, as the shop's.
    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if _immediate.get():
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_tables(database_uri: str) -> dict:
    """(Re)create the reference tables with ``REF_PRODUCTS`` products; returns what checks need."""
    app = create_reference_app(database_uri)
    with app.app_context():
        ref_db.drop_all()
        ref_db.create_all()
        ref_db.session.execute(insert(RefProduct), [
            {"id": i, "name": f"Reference product {i}", "description": "A plain product for the reference page.",
             "price": 9900 + i, "stock": REF_STOCK} for i in range(1, REF_PRODUCTS + 1)])
        ref_db.session.commit()
    return {"products": REF_PRODUCTS, "stock_each": REF_STOCK}


def reference_state(database_uri: str) -> dict:
    """Stock sold and orders written, for the conservation check."""
    app = create_reference_app(database_uri)
    with app.app_context():
        sold = ref_db.session.execute(text(
            "SELECT COALESCE(SUM(:s - stock), 0) FROM bench_ref_products"), {"s": REF_STOCK}).scalar_one()
        orders = ref_db.session.execute(text("SELECT COUNT(*) FROM bench_ref_orders")).scalar_one()
        lines = ref_db.session.execute(text("SELECT COUNT(*) FROM bench_ref_order_lines")).scalar_one()
        ref_db.session.remove()
        ref_db.engine.dispose()
    return {"sold": int(sold), "orders": int(orders), "lines": int(lines)}

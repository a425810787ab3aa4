"""The shop the generator writes: catalogue, buyers, then orders in bulk."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable
from datetime import datetime, timedelta

from werkzeug.security import generate_password_hash

from ..clock import utcnow
from .aftersales import add_cases, available, first_order_without_cases
from .orders import OrderFactory
from .writer import BulkWriter

BENCH_DOMAIN = "bench.example.com"
BENCH_PASSWORD = "bench-password"

CITIES = [("Shanghai", "Shanghai", "Pudong"), ("Beijing", "Beijing", "Chaoyang"), ("Guangdong", "Shenzhen", "Nanshan"),
          ("Zhejiang", "Hangzhou", "Xihu"), ("Sichuan", "Chengdu", "Wuhou"), ("Jiangsu", "Nanjing", "Gulou")]
WORDS = ["Cotton", "Linen", "Merino", "Denim", "Silk", "Down", "Canvas", "Oxford", "Knit", "Twill"]
KINDS = ["Tee", "Shirt", "Sweater", "Dress", "Jeans", "Jacket", "Tote", "Scarf", "Chinos", "Cardigan"]
COLOURS = ["Black", "White", "Navy", "Oat", "Sage", "Rust"]
SIZES = ["S", "M", "L", "XL"]


@dataclass
class GeneratorConfig:
    orders: int = 10_000
    buyers: int | None = None  # default: one buyer per 8 orders, at least 50
    products: int = 200
    skus_per_product: int = 4
    days: int = 90
    seed: int = 11
    commit_every: int = 50_000

    @property
    def buyer_count(self) -> int:
        return self.buyers if self.buyers is not None else max(50, self.orders // 8)


PROGRESS_EVERY = 1000  # orders between two progress callbacks


def generate(cfg: GeneratorConfig, engine, metadata, log=print,
             progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write the shop; ``progress(n)`` is called with each further ``n`` orders written."""
    started = time.perf_counter()
    rng = random.Random(cfg.seed)
    now = utcnow().replace(microsecond=0)
    writer = BulkWriter(engine, metadata)
    if not writer.is_pg:
        cursor = writer.conn.cursor()
        # Bulk load: durability of a half-written batch is moot; a big page cache keeps the
        # randomly keyed indexes (order numbers, phones) from thrashing.
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.close()
    skus = _catalogue(writer, cfg, rng, now)
    buyers, staff = _people(writer, cfg, rng, now)
    writer.commit()
    log(f"catalogue and {len(buyers)} buyers: {time.perf_counter() - started:.1f}s")
    first_order = writer.next_id("orders")
    factory = OrderFactory(writer, rng, now, cfg.days, skus, buyers, staff)
    for n in range(cfg.orders):
        factory.order()
        if (n + 1) % cfg.commit_every == 0:
            writer.commit()
            log(f"{n + 1} orders: {time.perf_counter() - started:.1f}s")
        if progress is not None and (n + 1) % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None and cfg.orders % PROGRESS_EVERY:
        progress(cfg.orders % PROGRESS_EVERY)
    add_cases(writer, rng, now, first_order, log)
    counts = writer.finish()
    log(f"done: {cfg.orders} orders in {time.perf_counter() - started:.1f}s")
    return counts


def generate_aftersales(engine, metadata, seed: int = 11, log=print) -> dict[str, int]:
    """Cases for orders of an existing generated shop that have none yet (``bench-data --aftersales-only``)."""
    started = time.perf_counter()
    writer = BulkWriter(engine, metadata)
    if not available(writer):
        writer.conn.close()
        raise RuntimeError("the aftersales plugin's tables are missing: run the migrations first")
    add_cases(writer, random.Random(seed), utcnow().replace(microsecond=0), first_order_without_cases(writer), log)
    counts = writer.finish()
    log(f"done: after-sales cases in {time.perf_counter() - started:.1f}s")
    return counts


def _catalogue(writer: BulkWriter, cfg: GeneratorConfig, rng: random.Random, now: datetime) -> list[tuple]:
    """Categories, products, SKUs; returns (sku_id, product_id, name, code, label, price) tuples."""
    cat_id = writer.next_id("categories")
    categories = writer.buffer("categories", ["id", "slug", "name", "position"])
    cat_ids = []
    for i in range(8):
        categories.add((cat_id + i, f"bench-{cat_id + i}", f"{WORDS[i]} range", i))
        cat_ids.append(cat_id + i)
    product_id = writer.next_id("products")
    sku_id = writer.next_id("skus")
    products = writer.buffer("products", ["id", "slug", "name", "description", "category_id", "option_names",
                                          "active", "created_at", "updated_at"])
    sku_rows = writer.buffer("skus", ["id", "product_id", "code", "options", "price", "compare_at_price", "stock",
                                      "low_stock_threshold", "active", "position"])
    skus = []
    for p in range(cfg.products):
        pid = product_id + p
        name = f"{rng.choice(WORDS)} {rng.choice(KINDS)} {pid}"
        created = now - timedelta(days=rng.randint(91, 400))
        products.add((pid, f"bench-product-{pid}", name, f"{name}: a bench product.\nWash cold.",
                      rng.choice(cat_ids), ["Colour", "Size"], True, created, created))
        price = rng.randrange(49, 999) * 100
        colour = rng.choice(COLOURS)
        for s in range(cfg.skus_per_product):
            size = SIZES[s % len(SIZES)]
            code = f"B{pid}-{s}"
            sku_rows.add((sku_id, pid, code, {"Colour": colour, "Size": size}, price, None,
                          rng.randint(50, 5000), 5, True, s))
            skus.append((sku_id, pid, name, code, f"{colour} / {size}", price))
            sku_id += 1
    return skus


def _people(writer: BulkWriter, cfg: GeneratorConfig, rng: random.Random, now: datetime):
    """Buyers (with one address each) and a few staff; all share one password hash."""
    password_hash = generate_password_hash(BENCH_PASSWORD)
    user_id = writer.next_id("users")
    address_id = writer.next_id("addresses")
    users = writer.buffer("users", ["id", "email", "name", "phone", "password_hash", "role", "is_active_account",
                                    "session_token", "locale", "created_at"])
    addresses = writer.buffer("addresses", ["id", "user_id", "name", "phone", "province", "city", "district",
                                            "line1", "postcode", "is_default"])
    staff = []
    for i, role in enumerate(("owner", "staff", "staff")):
        uid = user_id + i
        users.add((uid, f"{role}{uid}@{BENCH_DOMAIN}", f"Staff {uid}", None, password_hash, role, True,
                   f"{uid:032x}", None, now - timedelta(days=400)))
        staff.append((uid, f"Staff {uid}"))
    buyers = []
    for i in range(cfg.buyer_count):
        uid = user_id + 3 + i
        phone = f"13{uid % 10**9:09d}"
        name = f"Buyer {uid}"
        province, city, district = rng.choice(CITIES)
        users.add((uid, f"buyer{uid}@{BENCH_DOMAIN}", name, phone, password_hash, "buyer", True,
                   f"{uid:032x}", None, now - timedelta(days=rng.randint(1, 400))))
        line1 = f"{rng.randint(1, 999)} {rng.choice(WORDS)} Road"
        addresses.add((address_id + i, uid, name, phone, province, city, district, line1, "200000", True))
        address = {"name": name, "phone": phone, "province": province, "city": city, "district": district,
                   "line1": line1, "postcode": "200000"}
        buyers.append((uid, f"buyer{uid}@{BENCH_DOMAIN}", name, phone, address))
    return buyers, staff


def generate_with_progress_bar(cfg: GeneratorConfig, engine, metadata, echo=None) -> dict[str, int]:
    """The CLI's run: a click progress bar over the orders, then a summary.

    The generator's own log lines would break the bar, so they are kept and
    printed with the summary (time, rate, rows written per table).
    """
    import click

    echo = echo or click.echo
    lines: list[str] = []
    started = time.perf_counter()
    with click.progressbar(length=cfg.orders, label="orders", show_pos=True, show_eta=True,
                           show_percent=True) as bar:
        counts = generate(cfg, engine, metadata, log=lines.append, progress=bar.update)
    elapsed = time.perf_counter() - started
    for line in lines:
        echo(line)
    rate = cfg.orders / elapsed if elapsed > 0 else 0
    echo(f"summary: {counts.get('orders', 0)} orders in {elapsed:.1f}s ({rate:.0f} orders/s)")
    for name, count in sorted(counts.items()):
        echo(f"  {name}: {count}")
    return counts

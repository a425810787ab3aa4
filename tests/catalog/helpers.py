from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image

from storefront.catalog.models import Category, Product, Sku
from storefront.extensions import db


def make_category(name="T-shirts", slug="t-shirts", position=0) -> Category:
    cat = Category(name=name, slug=slug, position=position)
    db.session.add(cat)
    db.session.commit()
    return cat


def make_full_product(name="Linen Shirt", slug=None, *, description="Soft linen", category=None, active=True,
                      skus=(("Black", "S", 12900, 10),), compare_at=None, threshold=5) -> Product:
    product = Product(slug=slug or name.lower().replace(" ", "-"), name=name, description=description,
                      category=category, active=active, option_names=["Colour", "Size"])
    for i, (colour, size, price, stock) in enumerate(skus):
        product.skus.append(Sku(code=f"{product.slug}-{i}", options=[colour, size], price=price, stock=stock,
                                compare_at_price=compare_at, low_stock_threshold=threshold, position=i))
    db.session.add(product)
    db.session.commit()
    return product


def png_bytes(size=(64, 48), colour=(200, 30, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def noisy_png(size=(120, 120)) -> bytes:
    img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def jpeg_with_exif(size=(80, 60)) -> bytes:
    img = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Maker"  # Make
    exif[0x0131] = "secret-software"  # Software
    exif[0x8825] = {2: (30.0, 15.0, 0.0), 1: "N"}  # GPS IFD: latitude
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def huge_png_header(width=60000, height=60000) -> bytes:
    """A tiny file that claims enormous dimensions (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))

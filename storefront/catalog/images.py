"""Product image pipeline: validate by decoding, re-encode, store under a random name.

An upload is never stored as sent. It is decoded with Pillow (so an HTML or
SVG file renamed ``.jpg`` is refused by its content, not its extension),
bounded in bytes and pixels before the pixels are decoded (decompression
bombs), fully loaded (truncated files fail here, not later in a browser),
then re-encoded from pixels only: EXIF (GPS positions of the seller's home),
XMP, ICC and comments are all dropped.
"""
from __future__ import annotations

import io
import os
import re
import secrets
import warnings
from dataclasses import dataclass

from flask import current_app
from PIL import Image, ImageDraw, ImageFile, ImageOps, features

from ..errors import ValidationFailed
from ..i18n import gettext as _

# MPO is how Pillow names the JPEGs many phone cameras write.
ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}
MAX_SIDE = 1600
#: Names we create: 32 hex characters and our own extension. The image route
#: accepts nothing else, which also rules out any path traversal.
FILENAME_RE = re.compile(r"^[0-9a-f]{32}\.(?:webp|jpg|png)$")


class ImageRejected(ValidationFailed):
    code = "image_rejected"


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int
    extension: str


@dataclass(frozen=True)
class StoredImage:
    filename: str
    width: int
    height: int


def upload_dir() -> str:
    return current_app.config["STOREFRONT_UPLOAD_DIR"]


def _limits() -> tuple[int, int]:
    cfg = current_app.config
    return int(cfg["STOREFRONT_MAX_IMAGE_BYTES"]), int(cfg["STOREFRONT_MAX_IMAGE_PIXELS"])


def encode_upload(data: bytes) -> EncodedImage:
    """Validate raw upload bytes and return the re-encoded image (raises ImageRejected)."""
    max_bytes, max_pixels = _limits()
    if len(data) > max_bytes:
        raise ImageRejected(_("The image is larger than %(mb)s MB.", mb=round(max_bytes / 1048576, 1)),
                            code="image_too_large", field="image")
    if not data:
        raise ImageRejected(_("The file is empty."), field="image")
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; we make
    # the configured limit the hard one (the warning becomes an error below).
    Image.MAX_IMAGE_PIXELS = max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in ALLOWED_FORMATS:
                    raise ImageRejected(_("Only JPEG, PNG and WebP images are accepted."),
                                        code="image_type", field="image")
                width, height = img.size
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise ImageRejected(_("The image has too many pixels."), code="image_too_many_pixels",
                                        field="image")
                img.load()
                return _reencode(img)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(_("The image has too many pixels."), code="image_too_many_pixels", field="image")
    except (OSError, ValueError, SyntaxError, EOFError, Image.UnidentifiedImageError):
        # Unidentified, truncated or corrupt: all the same to the seller.
        raise ImageRejected(_("This file is not a valid JPEG, PNG or WebP image."), code="image_invalid",
                            field="image")


def _reencode(img: Image.Image) -> EncodedImage:
    img = ImageOps.exif_transpose(img)  # keep the photo upright once EXIF is gone
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        img = img.convert("RGBA")
    elif img.mode == "I;16" or img.mode == "I":
        # 16-bit greyscale: scale to 8 bits before RGB, or it saturates to white.
        img = img.point(lambda v: v / 256).convert("L").convert("RGB")
    else:
        img = img.convert("RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    img.info = {}  # nothing from the original file survives
    out = io.BytesIO()
    if features.check("webp"):
        img.save(out, "WEBP", quality=82, method=4)
        ext = "webp"
    elif has_alpha:
        img.save(out, "PNG", optimize=True)
        ext = "png"
    else:
        img.save(out, "JPEG", quality=85, optimize=True, progressive=True)
        ext = "jpg"
    return EncodedImage(out.getvalue(), img.width, img.height, ext)


def write_image(encoded: EncodedImage) -> StoredImage:
    """Write the re-encoded bytes under a fresh random name (atomically)."""
    folder = upload_dir()
    os.makedirs(folder, exist_ok=True)
    filename = f"{secrets.token_hex(16)}.{encoded.extension}"
    final = os.path.join(folder, filename)
    tmp = final + ".part"
    with open(tmp, "wb") as fh:
        fh.write(encoded.data)
    os.replace(tmp, final)
    return StoredImage(filename, encoded.width, encoded.height)


def remove_image_file(filename: str) -> None:
    if not FILENAME_RE.match(filename or ""):
        return
    try:
        os.remove(os.path.join(upload_dir(), filename))
    except FileNotFoundError:
        pass


def store_upload(data: bytes) -> StoredImage:
    return write_image(encode_upload(data))


# demo pictures ------------------------------------------------------------

def draw_garment(kind: str, colour: tuple[int, int, int], initials: str, size: int = 640) -> bytes:
    """A simple garment silhouette with the product's initials, as PNG bytes.

    Used by the demo shop, which then sends the bytes through the same upload
    pipeline as a seller's photo.
    """
    bg = tuple(min(255, c // 5 + 215) for c in colour)
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    s = size / 100
    def poly(points):
        d.polygon([(x * s, y * s) for x, y in points], fill=colour, outline=(40, 40, 40))
    if kind in ("tshirt", "shirt", "knit", "jacket"):
        long_sleeves = kind != "tshirt"
        sleeve = [(18, 22), (4, 62 if long_sleeves else 40), (14, 66 if long_sleeves else 44), (26, 40)]
        poly([(30, 16), (40, 12), (50, 18), (60, 12), (70, 16), (74, 88), (26, 88)])
        poly(sleeve)
        poly([(100 - x, y) for x, y in sleeve])
        poly([(30, 16), (18, 22), (26, 40), (28, 40)])
        poly([(70, 16), (82, 22), (74, 40), (72, 40)])
        if kind in ("shirt", "jacket"):
            d.line([(50 * s, 18 * s), (50 * s, 88 * s)], fill=(40, 40, 40), width=max(1, int(s)))
    elif kind == "dress":
        poly([(38, 12), (62, 12), (60, 36), (80, 90), (20, 90), (40, 36)])
    elif kind == "trousers":
        poly([(28, 10), (72, 10), (76, 92), (56, 92), (50, 36), (44, 92), (24, 92)])
    else:  # accessories: a tote bag
        d.rounded_rectangle([24 * s, 34 * s, 76 * s, 88 * s], radius=int(4 * s), fill=colour, outline=(40, 40, 40))
        d.arc([36 * s, 14 * s, 64 * s, 50 * s], 180, 360, fill=(40, 40, 40), width=max(2, int(2 * s)))
    text = initials[:3].upper()
    try:
        from PIL import ImageFont

        font = ImageFont.load_default(size=int(14 * s))
    except (TypeError, OSError):  # very old Pillow without scalable default font
        from PIL import ImageFont

        font = ImageFont.load_default()
    light = sum(colour) > 380
    d.text((50 * s, 58 * s), text, fill=(30, 30, 30) if light else (250, 250, 250), font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()

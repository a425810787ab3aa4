"""Evidence photos: validated and re-encoded by the catalog's image pipeline
(decode with Pillow, byte and pixel limits before decoding, metadata dropped),
stored under ``instance_path/aftersales_evidence/`` with random names, outside
the static folder: the only way to read one is :func:`evidence_path` after the
buyer-or-staff check of the view.
"""
from __future__ import annotations

import os
import re
import secrets

from flask import current_app

from storefront.catalog.images import EncodedImage, ImageRejected, encode_upload
from storefront.errors import ValidationFailed
from storefront.i18n import gettext as _

from .models import Evidence

MAX_FILES = 6
FOLDER = "aftersales_evidence"
#: Names we create; anything else is refused before touching the disk (no traversal).
STORED_NAME_RE = re.compile(r"^[0-9a-f]{32}\.(?:webp|jpg|png)$")
CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}


def evidence_dir() -> str:
    return os.path.join(current_app.instance_path, FOLDER)


def read_uploads(files) -> list[bytes]:
    """Raw bytes of the uploaded files (werkzeug FileStorage or bytes), empty ones skipped.

    The client's file name and content type are ignored: only the decoded
    content decides what a file is.
    """
    out: list[bytes] = []
    limit = int(current_app.config["STOREFRONT_MAX_IMAGE_BYTES"])
    for item in files or []:
        if isinstance(item, (bytes, bytearray)):
            data = bytes(item)
        else:
            if not getattr(item, "filename", None) and not getattr(item, "stream", None):
                continue
            # Read one byte past the limit: enough to refuse without loading a huge body.
            data = item.stream.read(limit + 1)
        if not data:
            continue
        out.append(data)
    if len(out) > MAX_FILES:
        raise ValidationFailed(_("At most %(n)s photos.", n=MAX_FILES), field="evidence",
                               code="too_many_files")
    return out


def encode_all(blobs: list[bytes]) -> list[EncodedImage]:
    encoded = []
    for data in blobs:
        try:
            encoded.append(encode_upload(data))
        except ImageRejected as exc:
            raise ImageRejected(exc.message, code=exc.code, field="evidence") from None
    return encoded


def write_files(encoded: list[EncodedImage]) -> list[tuple[str, EncodedImage]]:
    """Write each image under a fresh random name (atomically); returns (name, image)."""
    folder = evidence_dir()
    os.makedirs(folder, exist_ok=True)
    written = []
    try:
        for image in encoded:
            name = f"{secrets.token_hex(16)}.{image.extension}"
            final = os.path.join(folder, name)
            with open(final + ".part", "wb") as fh:
                fh.write(image.data)
            os.replace(final + ".part", final)
            written.append((name, image))
    except OSError:
        remove_files([n for n, _img in written])
        raise
    return written


def remove_files(names: list[str]) -> None:
    for name in names:
        path = evidence_path(name)
        if path:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


def evidence_rows(case_id: int, written, user_id: int | None) -> list[Evidence]:
    return [Evidence(case_id=case_id, stored_name=name, content_type=CONTENT_TYPES[img.extension],
                     width=img.width, height=img.height, size=len(img.data), uploaded_by=user_id)
            for name, img in written]


def evidence_path(stored_name: str) -> str | None:
    if not STORED_NAME_RE.match(stored_name or ""):
        return None
    return os.path.join(evidence_dir(), stored_name)

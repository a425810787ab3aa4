"""(f) Hostile uploads to every file field the shop shows (found by parsing
the pages, so a plugin's new upload field is attacked too): nothing but a
re-encoded image under a random name is ever stored, nothing lands outside
the upload folder, no request fails with a 5xx, and stored files are served
inertly."""
from __future__ import annotations

import io
import os
import re

from PIL import Image

from .conftest import new_client, signed_in
from .test_mass_assignment import _collect_forms, _fresh, _restore_plugins
from .test_xss import plausible

STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(webp|jpg|png)$")


def _png(size=(8, 8), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


def _bomb() -> bytes:
    # 50 megapixels of one colour: a few kB on disk, far over the pixel limit.
    out = io.BytesIO()
    Image.new("1", (10000, 5000)).save(out, "PNG", optimize=True)
    return out.getvalue()


def hostile_files() -> list[tuple[str, bytes, str]]:
    """(filename, content, what it tries) for every attack."""
    png = _png()
    return [
        ("evil.jpg", b"<html><script>alert('xss')</script></html>", "HTML renamed .jpg"),
        ("evil.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script>alert(2)</script></svg>",
         "SVG with script"),
        ("shell.php.png", b"<?php system($_GET['c']); ?>", "PHP renamed .png"),
        ("../../../../tmp/evil-traversal.png", png, "path traversal in the name"),
        ("..\\..\\evil-win.png", png, "Windows path traversal in the name"),
        ("polyglot.png", png + b"<script>alert('xss')</script>", "valid PNG with HTML appended"),
        ("bomb.png", _bomb(), "decompression bomb"),
        ("truncated.png", png[: len(png) // 2], "truncated image"),
        ("empty.png", b"", "empty file"),
        ("nul\x00.png", png, "NUL byte in the name"),
        ("orders.csv", b"number,carrier,tracking\n=cmd|' /C calc'!A0,+SUM(1),@evil\n", "CSV formulas"),
        ("huge-line.csv", b"number,carrier,tracking\n" + b"A" * 300_000 + b"\n", "one enormous line"),
        ("binary.csv", b"\xff\xfe\x00\x00garbage\x00\x01", "binary junk as CSV"),
    ]


def _stored_files(root) -> list[str]:
    found = []
    for folder, _dirs, files in os.walk(root):
        found += [os.path.join(folder, f) for f in files]
    return found


def test_hostile_uploads_to_every_file_field(app, world, tmp_path):
    upload_root = app.config["STOREFRONT_UPLOAD_DIR"]
    seeded = set(_stored_files(upload_root))
    problems, fields = [], []
    for who, user_id in {"owner": world.owner.id, "buyer": world.buyer.id}.items():
        client = signed_in(app, _fresh(user_id))
        for action, form in sorted(_collect_forms(app, world, who, client).items()):
            if not form.files:
                continue
            base = {name: (values if values and values != [""] else [plausible(name)])
                    for name, values in form.fields.items()}
            for field in form.files:
                fields.append(f"{who} {action} [{field}]")
                for filename, content, attack in hostile_files():
                    client = signed_in(app, _fresh(user_id))
                    r = client.post(action, data={**base, field: (io.BytesIO(content), filename)},
                                    content_type="multipart/form-data")
                    if r.status_code >= 500:
                        problems.append(f"{who} {action} [{field}] {attack}: {r.status_code}")
                    _restore_plugins()
    assert any("images" in f for f in fields), f"the product image field was not found: {fields}"
    for path in set(_stored_files(upload_root)) - seeded:
        name = os.path.basename(path)
        if not STORED_NAME.match(name):
            problems.append(f"stored under a name we did not make: {path}")
            continue
        data = open(path, "rb").read()
        if b"<script" in data or b"<?php" in data or b"<svg" in data:
            problems.append(f"hostile bytes survived in {name}")
        with Image.open(path) as img:
            if img.format not in ("WEBP", "JPEG", "PNG") or img.width * img.height > 40_000_000:
                problems.append(f"{name}: {img.format} {img.size}")
    escaped = [p for p in _stored_files(tmp_path.parent.parent) if "evil-traversal" in p or "evil-win" in p]
    escaped += [p for p in ("/tmp/evil-traversal.png",) if os.path.exists(p)]
    assert not escaped, escaped
    assert not problems, "\n".join(problems)


def test_stored_images_are_served_inertly(app, world):
    client = new_client(app)
    name = next(os.path.basename(p) for p in _stored_files(app.config["STOREFRONT_UPLOAD_DIR"])
                if STORED_NAME.match(os.path.basename(p)))
    r = client.get(f"/media/{name}")
    assert r.status_code == 200
    assert r.mimetype.startswith("image/")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r.close()
    for probe in ("../secret_key", "..%2fsecret_key", "%2e%2e/secret_key", name.replace(".", ".svg."),
                  name[:-4] + "html", "x" * 32 + ".webp"):
        r = client.get(f"/media/{probe}")
        assert r.status_code == 404, probe
        r.close()


def test_a_body_over_the_size_limit_is_413(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)
    owner = signed_in(app, world.owner)
    big = (io.BytesIO(b"\0" * (128 * 1024)), "big.png")
    r = owner.post("/admin/products/1/images", data={"img-image": big}, content_type="multipart/form-data")
    assert r.status_code == 413
    assert "Traceback" not in r.get_data(as_text=True)
    r = new_client(app).post("/api/v1/auth/token", data=b"{" + b" " * (128 * 1024) + b"}",
                             content_type="application/json")
    assert r.status_code == 413
    assert r.get_json()["error"]["code"] == "too_large"

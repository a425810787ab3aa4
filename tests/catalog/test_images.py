"""Image uploads: decoded, bounded, re-encoded, stored under random names, served safely."""
from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from storefront.audit.models import AuditEntry
from storefront.catalog.images import ImageRejected, encode_upload, store_upload
from storefront.catalog.models import ProductImage
from storefront.extensions import db

from ..factories import login, make_staff
from .helpers import huge_png_header, jpeg_with_exif, make_full_product, noisy_png, png_bytes


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_png_and_jpeg_are_reencoded(app):
    for raw in (png_bytes(), jpeg_with_exif(), png_bytes(mode="RGBA", colour=(1, 2, 3, 100))):
        encoded = encode_upload(raw)
        img = _decode(encoded.data)
        assert img.format in ("WEBP", "JPEG", "PNG")
        assert encoded.data != raw
        assert (img.width, img.height) == (encoded.width, encoded.height)


def test_jpeg_metadata_is_stripped(app):
    raw = jpeg_with_exif()
    assert _decode(raw).getexif().get(0x010F) == "SpyCam Maker"  # the test file really has EXIF
    encoded = encode_upload(raw)
    img = _decode(encoded.data)
    assert not img.getexif()
    assert "exif" not in img.info and "icc_profile" not in img.info
    assert b"SpyCam" not in encoded.data and b"secret-software" not in encoded.data


def test_large_images_are_resized(app):
    encoded = encode_upload(png_bytes(size=(3200, 1000)))
    assert (encoded.width, encoded.height) == (1600, 500)


def test_transparency_is_kept(app):
    encoded = encode_upload(png_bytes(mode="RGBA", colour=(0, 0, 0, 0)))
    assert _decode(encoded.data).mode == "RGBA"


@pytest.mark.parametrize("payload", [
    b"<html><body><script>alert(1)</script></body></html>",
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
    b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",  # a valid GIF: not an accepted format
    b"",
], ids=["html", "svg", "gif", "empty"])
def test_non_images_are_rejected(app, payload):
    with pytest.raises(ImageRejected):
        encode_upload(payload)


def test_truncated_image_is_rejected(app):
    raw = noisy_png()
    with pytest.raises(ImageRejected):
        encode_upload(raw[: len(raw) // 2])
    jpeg = jpeg_with_exif(size=(400, 300))
    with pytest.raises(ImageRejected):
        encode_upload(jpeg[: len(jpeg) // 2])


def test_decompression_bomb_is_rejected(app):
    with pytest.raises(ImageRejected) as info:
        encode_upload(huge_png_header())
    assert info.value.code == "image_too_many_pixels"


def test_pixel_limit_is_the_configured_one(app, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_MAX_IMAGE_PIXELS", 5000)
    with pytest.raises(ImageRejected) as info:
        encode_upload(png_bytes(size=(100, 60)))  # 6000 px: above the limit, below Pillow's 2x error
    assert info.value.code == "image_too_many_pixels"
    assert encode_upload(png_bytes(size=(50, 50))).width == 50


def test_oversize_bytes_are_rejected(app, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_MAX_IMAGE_BYTES", 2000)
    with pytest.raises(ImageRejected) as info:
        encode_upload(noisy_png())
    assert info.value.code == "image_too_large"


def _upload(client, product, data, name="photo.png"):
    return client.post(f"/admin/products/{product.id}/images",
                       data={"img-image": (io.BytesIO(data), name), "img-alt": "Front"},
                       content_type="multipart/form-data")


def test_staff_upload_stores_random_name_and_serves_it(app, client, upload_dir):
    staff = make_staff()
    product = make_full_product()
    login(client, staff)
    response = _upload(client, product, jpeg_with_exif(), name="../../etc/passwd.jpg")
    assert response.status_code == 302
    image = db.session.query(ProductImage).one()
    assert image.product_id == product.id and image.alt == "Front"
    assert "passwd" not in image.filename and len(image.filename.split(".")[0]) == 32
    assert sorted(os.listdir(upload_dir)) == [image.filename]
    served = client.get(f"/media/{image.filename}")
    assert served.status_code == 200
    assert "immutable" in served.headers["Cache-Control"] and "max-age=31536000" in served.headers["Cache-Control"]
    # The same bytes for everyone: nothing keys it to the (signed-in) session cookie.
    assert "Cookie" not in served.headers.get("Vary", "") and "Set-Cookie" not in served.headers
    assert not _decode(served.data).getexif()
    assert db.session.query(AuditEntry).filter_by(action="product.image_add").count() == 1
    # it is the product's cover on the shop pages
    assert image.filename in client.get(f"/products/{product.slug}").get_data(as_text=True)


@pytest.mark.parametrize("payload,name", [
    (b"<html><script>alert(1)</script></html>", "cat.jpg"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "logo.svg"),
    (huge_png_header(), "bomb.png"),
], ids=["html-as-jpg", "svg", "bomb"])
def test_rejected_upload_shows_field_error_and_stores_nothing(app, client, upload_dir, payload, name):
    staff = make_staff()
    product = make_full_product()
    login(client, staff)
    response = _upload(client, product, payload, name=name)
    assert response.status_code == 422
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert db.session.query(ProductImage).count() == 0
    assert not upload_dir.exists() or os.listdir(upload_dir) == []


def test_oversize_upload_is_refused_in_the_form(app, client, upload_dir, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_MAX_IMAGE_BYTES", 2000)
    login(client, make_staff())
    product = make_full_product()
    response = _upload(client, product, noisy_png())
    assert response.status_code == 422 and "larger than" in response.get_data(as_text=True)
    assert db.session.query(ProductImage).count() == 0


def test_reorder_and_delete_images(app, client, upload_dir):
    login(client, make_staff())
    product = make_full_product()
    for colour in ((255, 0, 0), (0, 255, 0)):
        assert _upload(client, product, png_bytes(colour=colour)).status_code == 302
    first, second = db.session.query(ProductImage).order_by(ProductImage.position).all()
    assert client.post(f"/admin/products/{product.id}/images/{second.id}/up").status_code == 302
    db.session.expire_all()
    assert [i.id for i in db.session.query(ProductImage).order_by(ProductImage.position)] == [second.id, first.id]
    assert client.post(f"/admin/products/{product.id}/images/{first.id}/delete").status_code == 302
    db.session.expire_all()
    assert [i.id for i in db.session.query(ProductImage)] == [second.id]
    assert sorted(os.listdir(upload_dir)) == [second.filename]
    other = make_full_product("Other")
    assert client.post(f"/admin/products/{other.id}/images/{second.id}/delete").status_code == 404


@pytest.mark.parametrize("path", [
    "/media/../secret_key", "/media/..%2Fsecret_key", "/media/%2e%2e%2fsecret_key",
    "/media/secret_key", "/media/" + "a" * 32 + ".webp", "/media/" + "A" * 32 + ".webp",
    "/media/" + "a" * 32 + ".html",
])
def test_image_route_refuses_anything_but_our_names(app, client, upload_dir, path):
    upload_dir.mkdir(parents=True, exist_ok=True)
    (upload_dir.parent / "secret_key").write_text("top secret")
    (upload_dir / ("a" * 32 + ".html")).write_text("<script>")
    response = client.get(path)
    assert response.status_code == 404
    assert b"top secret" not in response.data


def test_store_upload_writes_file(app, upload_dir):
    stored = store_upload(png_bytes())
    assert (upload_dir / stored.filename).is_file()

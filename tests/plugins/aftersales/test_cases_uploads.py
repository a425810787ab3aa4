"""Evidence photos: hostile files are refused or neutralised; photos are private."""
from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from plugins.aftersales.models import Case, Evidence
from plugins.aftersales.uploads import STORED_NAME_RE, evidence_dir
from storefront.catalog.images import ImageRejected
from storefront.errors import ValidationFailed
from storefront.extensions import db

from .conftest import make_staff, new_client, open_case, png_bytes, set_enabled, shipped_order, sign_in

SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
       b'<script>alert(document.cookie)</script></svg>')
HTML = b"<!doctype html><html><body><script>fetch('/account')</script></body></html>"


@pytest.fixture(autouse=True)
def _on(enabled):
    set_enabled(True, auto_approve_no_reason_returns=False)


def _quality(order, buyer, files):
    return open_case(order, buyer, kind="return_refund", reason="quality", lines={order.lines[0].id: 1}, files=files)


@pytest.mark.parametrize("blob", [SVG, HTML, b"GIF89a" + b"\x00" * 40, b"\x89PNG\r\n\x1a\n" + b"\x00" * 30],
                         ids=["svg-script", "html-as-jpg", "fake-gif", "truncated-png"])
def test_non_images_are_refused(app, buyer, blob):
    order = shipped_order(buyer)
    with pytest.raises(ImageRejected) as exc:
        _quality(order, buyer, [blob])
    assert exc.value.field == "evidence"
    assert db.session.query(Case).count() == 0


def test_gif_is_not_accepted(app, buyer):
    with pytest.raises(ImageRejected) as exc:
        _quality(shipped_order(buyer), buyer, [png_bytes(fmt="GIF")])
    assert exc.value.code == "image_type"


def test_decompression_bomb_is_refused(app, buyer):
    out = io.BytesIO()
    Image.new("1", (10000, 10000), 0).save(out, "PNG")  # 100 megapixels in a few kilobytes
    assert len(out.getvalue()) < 200_000
    with pytest.raises(ImageRejected) as exc:
        _quality(shipped_order(buyer), buyer, [out.getvalue()])
    assert exc.value.code == "image_too_many_pixels"


def test_too_many_bytes_is_refused(app, buyer):
    big = png_bytes() + b"\x00" * (app.config["STOREFRONT_MAX_IMAGE_BYTES"] + 10)
    with pytest.raises(ImageRejected) as exc:
        _quality(shipped_order(buyer), buyer, [big])
    assert exc.value.code == "image_too_large"


def test_too_many_files(app, buyer):
    with pytest.raises(ValidationFailed) as exc:
        _quality(shipped_order(buyer), buyer, [png_bytes()] * 7)
    assert exc.value.code == "too_many_files"


def test_polyglot_and_metadata_are_neutralised(app, buyer):
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(out, "JPEG", exif=exif.tobytes())
    polyglot = out.getvalue() + HTML  # a JPEG that is also an HTML page
    case = _quality(shipped_order(buyer), buyer, [polyglot])
    row = db.session.query(Evidence).filter_by(case_id=case.id).one()
    assert STORED_NAME_RE.match(row.stored_name)
    with open(os.path.join(evidence_dir(), row.stored_name), "rb") as fh:
        stored = fh.read()
    assert b"<script" not in stored and b"secret description" not in stored
    assert row.size == len(stored) and (row.width, row.height) == (16, 16)


def test_client_file_name_is_ignored(app, buyer):
    from werkzeug.datastructures import FileStorage

    upload = FileStorage(stream=io.BytesIO(png_bytes()), filename="../../../etc/passwd.png",
                         content_type="text/html")
    case = _quality(shipped_order(buyer), buyer, [upload])
    row = db.session.query(Evidence).filter_by(case_id=case.id).one()
    assert STORED_NAME_RE.match(row.stored_name) and row.content_type.startswith("image/")
    assert os.path.exists(os.path.join(evidence_dir(), row.stored_name))


def test_photos_are_served_only_to_the_buyer_and_staff(app, buyer, other_buyer):
    case = _quality(shipped_order(buyer), buyer, [png_bytes()])
    row = db.session.query(Evidence).filter_by(case_id=case.id).one()
    path = f"/account/refunds/{case.number}/evidence/{row.id}"
    mine = new_client(app)
    sign_in(mine, buyer)
    response = mine.get(path)
    assert response.status_code == 200 and response.mimetype.startswith("image/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]
    other = new_client(app)
    sign_in(other, other_buyer)
    assert other.get(path).status_code == 404
    assert other.get(f"/admin/aftersales/{case.number}/evidence/{row.id}").status_code == 403
    assert new_client(app).get(path).status_code in (302, 401)
    staff = new_client(app)
    sign_in(staff, make_staff())
    assert staff.get(f"/admin/aftersales/{case.number}/evidence/{row.id}").status_code == 200
    # Another case's photo id under this case's number is not found.
    other_case = _quality(shipped_order(buyer), buyer, [png_bytes()])
    other_row = db.session.query(Evidence).filter_by(case_id=other_case.id).one()
    assert mine.get(f"/account/refunds/{case.number}/evidence/{other_row.id}").status_code == 404
    assert mine.get(f"/account/refunds/{case.number}/evidence/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_huge_body_is_refused_by_the_page(app, buyer):
    order = shipped_order(buyer)
    client = new_client(app)
    sign_in(client, buyer)
    body = b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 1024)
    response = client.post(f"/account/refunds/new/{order.id}",
                           data={"kind": "return_refund", "reason": "quality",
                                 "evidence": (io.BytesIO(body), "huge.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert db.session.query(Case).count() == 0


def test_upload_through_the_page(app, buyer):
    order = shipped_order(buyer)
    client = new_client(app)
    sign_in(client, buyer)
    response = client.post(f"/account/refunds/new/{order.id}",
                           data={"kind": "return_refund", "reason": "quality", "description": "Torn seam",
                                 f"qty_{order.lines[0].id}": "1",
                                 "evidence": [(io.BytesIO(png_bytes()), "a.png"), (io.BytesIO(SVG), "b.svg")]},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "JPEG, PNG" in response.get_data(as_text=True)
    response = client.post(f"/account/refunds/new/{order.id}",
                           data={"kind": "return_refund", "reason": "quality", "description": "Torn seam",
                                 f"qty_{order.lines[0].id}": "1",
                                 "evidence": [(io.BytesIO(png_bytes()), "a.png")]},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    case = db.session.query(Case).one()
    assert db.session.query(Evidence).filter_by(case_id=case.id).count() == 1
    assert os.listdir(evidence_dir())  # written where expected


def test_two_uploads_at_once_respect_the_photo_limit(app, buyer):
    """A case holds at most 12 photos. It has 6; two uploads of 6 at once (two tabs): one is
    refused (on PostgreSQL both counted 6 and the case ended with 18)."""
    from plugins.aftersales import cases
    from storefront.accounts.models import User
    from tests.races import run_each_holding_its_first

    case = _quality(shipped_order(buyer), buyer, [png_bytes()] * 6)
    case_id, buyer_id = case.id, buyer.id

    def upload():
        return cases.add_evidence(db.session.get(Case, case_id), db.session.get(User, buyer_id),
                                  [png_bytes()] * 6)

    results = run_each_holding_its_first(app, "INSERT INTO aftersales_evidence", [upload, upload])
    refused = [r for r in results if not isinstance(r, int)]
    assert len(refused) == 1 and getattr(refused[0], "code", None) == "too_many_files", results
    assert db.session.query(Evidence).filter_by(case_id=case_id).count() == 12

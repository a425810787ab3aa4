"""Popup images are uploaded and re-encoded: the shop's CSP (img-src 'self') would block any other host."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from plugins.promo_popups import services
from plugins.promo_popups.models import Popup
from plugins.promo_popups.sanitize import clean_html, safe_image_url
from storefront.errors import ValidationFailed
from storefront.extensions import db

from .conftest import PAGES, bearer, make_popup, sign_in

FORM = {"title": "With a picture", "pages": ["home"], "audience": "everyone", "trigger": "load",
        "trigger_value": "0", "frequency": "always", "priority": "0", "active": "y", "split_percent": "50",
        "image_alt": "Red coat"}


def png_bytes(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("url, ok", [
    ("/media/0123456789abcdef0123456789abcdef.webp", True), ("/static/logo.png", True),
    ("https://cdn.example/a.png", False), ("http://cdn.example/a.png", False), ("//cdn.example/a.png", False),
    ("data:image/png;base64,AAAA", False), ("javascript:alert(1)", False), ("", False),
])
def test_only_shop_paths_are_image_urls(url, ok):
    assert (safe_image_url(url) is not None) is ok


def test_body_images_from_other_hosts_are_dropped_links_stay():
    html = clean_html('<p><img src="https://cdn.example/a.png" alt="x"><img src="/media/a.png" alt="y">'
                      '<a href="https://example.com/">ok</a></p>')
    assert "cdn.example" not in html and 'src="/media/a.png"' in html and 'href="https://example.com/"' in html


def test_service_and_api_refuse_an_external_image(app, enabled, staff, client):
    with pytest.raises(ValidationFailed) as caught:
        services.create_popup({"title": "T", "image_url": "https://cdn.example/a.png"})
    assert caught.value.field == "image_url"
    response = client.post("/api/v1/popups/", json={"title": "T", "pages": ["home"],
                                                    "image_url": "https://cdn.example/a.png"},
                           headers=bearer(staff))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "image_url" in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Popup.id))).scalar() == 0


def test_admin_upload_is_reencoded_and_shown_from_the_shop(client, enabled, staff):
    sign_in(client, staff)
    response = client.post("/admin/popups/new", data={**FORM, "image_file": (io.BytesIO(png_bytes()), "coat.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    popup = db.session.execute(db.select(Popup)).scalar_one()
    assert re.fullmatch(r"/media/[0-9a-f]{32}\.(webp|jpg|png)", popup.image_url)
    image = client.get(popup.image_url)
    assert image.status_code == 200 and image.mimetype.startswith("image/")
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert f'<img class="pp-image" src="{popup.image_url}" alt="Red coat">' in html

    # Editing without a new file keeps it; "remove" drops it.
    edit = {**FORM, "title": "Renamed"}
    assert client.post(f"/admin/popups/{popup.id}/edit", data=edit).status_code == 302
    db.session.refresh(popup)
    assert popup.title == "Renamed" and popup.image_url.startswith("/media/")
    assert client.post(f"/admin/popups/{popup.id}/edit", data={**edit, "image_remove": "y"}).status_code == 302
    db.session.refresh(popup)
    assert popup.image_url == ""


def test_a_file_that_is_not_an_image_is_refused_next_to_the_field(client, enabled, staff):
    sign_in(client, staff)
    fake = (io.BytesIO(b"<svg onload=alert(1)></svg>"), "coat.png")
    response = client.post("/admin/popups/new", data={**FORM, "image_file": fake}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert 'id="image_file-error"' in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Popup.id))).scalar() == 0


def test_a_row_with_an_external_image_renders_without_it(client, enabled):
    popup = make_popup(title="Old row")
    popup.image_url = "https://cdn.example/a.png"  # written before uploads were required
    db.session.commit()
    from plugins.promo_popups.targeting import clear_cache

    clear_cache()
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert ">Old row</h2>" in html and "cdn.example" not in html and "pp-image" not in html

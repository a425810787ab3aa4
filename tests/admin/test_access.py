"""Who may open the admin shell pages: staff for the dashboard, owners for the rest."""
from __future__ import annotations

import pytest

STAFF_PAGES = ["/admin/"]
OWNER_PAGES = ["/admin/plugins", "/admin/settings", "/admin/audit"]


@pytest.mark.parametrize("path", STAFF_PAGES + OWNER_PAGES)
def test_anonymous_is_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/account/login" in response.headers["Location"]


@pytest.mark.parametrize("path", STAFF_PAGES + OWNER_PAGES)
def test_buyer_gets_403(buyer_client, path):
    assert buyer_client.get(path).status_code == 403


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_opens_staff_pages(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", OWNER_PAGES)
def test_staff_cannot_open_owner_pages(staff_client, path):
    assert staff_client.get(path).status_code == 403


@pytest.mark.parametrize("path", STAFF_PAGES + OWNER_PAGES)
def test_owner_opens_everything(owner_client, path):
    assert owner_client.get(path).status_code == 200


@pytest.mark.parametrize("path,data", [
    ("/admin/settings", {"shop_name": "X"}),
    ("/admin/plugins/sample/enable", {}),
])
def test_staff_cannot_post_owner_forms(staff_client, path, data):
    assert staff_client.post(path, data=data).status_code == 403

"""The API parses each request with schemas made once per process, not once per request
(storefront.api.common.Blueprint; performance history, seventeenth round)."""
from __future__ import annotations

import flask_smorest
import marshmallow
import pytest

from storefront.api.common import Blueprint
from tests.checkout.helpers import api_token
from tests.factories import make_product, make_user


@pytest.fixture
def schemas_made(monkeypatch):
    made = []
    real_init = marshmallow.Schema.__init__

    def counting_init(self, *args, **kwargs):
        made.append(type(self).__name__)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(marshmallow.Schema, "__init__", counting_init)
    return made


def test_a_request_with_arguments_makes_no_schema(app, client, schemas_made):
    product = make_product(name="Tee", stock=5)
    headers = api_token(make_user(email="schema@example.com"))
    calls = [
        lambda: client.get("/api/v1/products?limit=2"),
        lambda: client.post("/api/v1/checkout/buy-now", json={"sku_id": product.skus[0].id, "quantity": "many"},
                            headers=headers),
        lambda: client.post("/api/v1/cart/lines", json={"sku_id": product.skus[0].id, "quantity": 1},
                            headers=headers),
    ]
    statuses = [call().status_code for call in calls]  # warm: anything made once is made here
    assert statuses[0] == 200 and statuses[1] == 422 and statuses[2] in (200, 201)
    schemas_made.clear()
    again = [call().status_code for call in calls]
    assert again[:2] == statuses[:2]
    assert schemas_made == []


def test_bad_arguments_are_still_refused_field_by_field(app, client):
    response = client.get("/api/v1/products?limit=many")
    assert response.status_code == 422
    body = response.get_json()["error"]
    assert body["code"] == "validation_failed" and "limit" in body["fields"]["query"]


def test_every_api_blueprint_uses_the_shared_base(app):
    smorest = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
    assert len(smorest) > 8  # the API was registered: otherwise this proves nothing
    strays = sorted(bp.name for bp in smorest if not isinstance(bp, Blueprint))
    assert not strays, f"built on flask_smorest.Blueprint directly (a schema made per request): {strays}"

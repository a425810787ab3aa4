"""Rows kept as plain values (storefront/row_copies.py): a JSON column's dicts and lists are
each built object's own, so one request changing them cannot reach the next."""
from __future__ import annotations

from storefront.catalog.models import Sku
from storefront.extensions import db
from storefront.row_copies import attached, column_values

from .factories import make_product


def test_json_columns_are_kept_as_text_and_each_object_gets_its_own(app):
    sku = make_product(options={"Colour": ["Red", "Blue"]}).skus[0]
    sku.options = {"Colour": "Red"}
    db.session.commit()
    kept = column_values(sku)
    assert isinstance(kept["options"], str) and kept["code"] == sku.code
    db.session.expunge_all()
    first = attached(Sku, kept)
    assert first.options == {"Colour": "Red"} and first.price == sku.price
    first.options["Colour"] = "changed in this request"
    db.session.expunge_all()
    second = attached(Sku, kept)
    assert second.options == {"Colour": "Red"} and second is not first

"""The API's errors speak the buyer's language: werkzeug's default descriptions and
marshmallow's field messages are replaced or translated; codes stay as they were."""
from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _

from storefront.api.messages import http_error_message, translated, translated_fields

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
VI = {"Accept-Language": "vi-VN,vi;q=0.9"}


def _error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def test_a_bad_query_value_in_chinese(app, client):
    body = _error(client.get("/api/v1/products?limit=many", headers=ZH), 422)
    assert body["code"] == "validation_failed"
    assert body["message"] == "部分字段缺失或无效，详见 fields。"
    assert body["fields"] == {"query": {"limit": ["请输入整数。"]}}


def test_an_out_of_range_value_in_english_names_the_range(app, client):
    body = _error(client.get("/api/v1/products?limit=0"), 422)
    assert body["message"] == "Some fields are missing or invalid; see fields."
    assert body["fields"]["query"]["limit"] == ["Enter a value from 1 to 50."]


def test_a_missing_field_in_vietnamese(app, client):
    from tests.checkout.helpers import api_token
    from tests.factories import make_user

    headers = {**api_token(make_user()), **VI}
    body = _error(client.post("/api/v1/cart/lines", json={"quantity": 1}, headers=headers), 422)
    with app.test_request_context(headers=VI), force_locale("vi"):
        required = _("This field is required.")
    assert required != "This field is required."  # the catalogue has it: otherwise this proves nothing
    assert body["fields"]["json"]["sku_id"] == [required]


def test_an_unknown_api_path(app, client):
    body = _error(client.get("/api/v1/no-such-thing", headers=ZH), 404)
    assert body["code"] == "not_found"
    with app.test_request_context(headers=ZH), force_locale("zh_Hans"):
        assert body["message"] == _("We could not find that page.")
    assert "requested URL" not in body["message"]
    english = _error(client.get("/api/v1/no-such-thing"), 404)
    assert english["message"] == "We could not find that page."


def test_wrong_method(app, client):
    body = _error(client.delete("/api/v1/products", headers=VI), 405)
    assert body["code"] == "method_not_allowed"
    assert "method is not allowed" not in body["message"]


def test_unknown_wording_passes_through_and_structure_is_kept(app):
    with app.test_request_context(), force_locale("en"):
        assert translated("A message a library added later.") == "A message a library added later."
        assert translated("Must be one of: courier, pickup.") == "Choose one of: courier, pickup."
        assert translated("Longer than maximum length 120.") == "Use at most 120 characters."
        nested = {"json": {"address": {"city": ["Not a valid string."]}, "lines": {"0": {"qty": ["Nope"]}}}}
        assert translated_fields(nested) == {"json": {"address": {"city": ["Enter text."]},
                                                      "lines": {"0": {"qty": ["Nope"]}}}}


def test_a_description_the_shop_gave_is_kept(app):
    with app.test_request_context(), force_locale("en"):
        generic = {404: "generic 404", 429: "generic 429"}.get
        assert http_error_message(404, "That parcel is not yours.", "The requested URL ...", generic) == \
            "That parcel is not yours."
        assert http_error_message(404, "The requested URL ...", "The requested URL ...", generic) == "generic 404"
        # Flask-Limiter's description is the limit in English ("5 per 1 minute"): replaced.
        assert http_error_message(429, "5 per 1 minute", "Too Many Requests", generic) == "generic 429"


def test_every_message_marshmallow_loads_with_is_known(app):
    """Fails when a marshmallow upgrade words a message differently: it would reach
    the buyer in English (add it to storefront/api/messages.py and the catalogues)."""
    from marshmallow import Schema, ValidationError, fields, validate

    from storefront.api.messages import _FIXED

    loading = (fields.Field, fields.String, fields.Integer, fields.Number, fields.Float, fields.Boolean,
               fields.Mapping, fields.List, fields.Nested, fields.Date)
    fixed = {message for cls in loading for key, message in cls.default_error_messages.items()
             if "{" not in message}
    fixed |= set(Schema._default_error_messages.values())
    fixed.add(fields.DateTime.default_error_messages["invalid"].format(obj_type="datetime"))
    assert fixed - set(_FIXED) == set()

    def message(validator, value) -> str:
        try:
            validator(value)
        except ValidationError as error:
            return error.messages[0]
        raise AssertionError("no error")

    with app.test_request_context(), force_locale("en"):
        for validator, value in ((validate.Range(min=1, max=50), 0), (validate.Range(min=1), 0),
                                 (validate.Range(max=5), 9), (validate.Length(max=3), "long"),
                                 (validate.Length(min=3), "x"), (validate.Length(min=1, max=3), "long"),
                                 (validate.OneOf(["a", "b"]), "c")):
            english = message(validator, value)
            assert translated(english) != english, english

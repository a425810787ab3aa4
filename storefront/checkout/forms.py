"""Checkout form. Only choices and typed text come from the buyer; prices never do."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ..forms import FlaskForm


class CheckoutForm(FlaskForm):
    address_id = RadioField(_l("Deliver to"), choices=[], validate_choice=False, default="new")
    name = StringField(_l("Recipient name"), validators=[Optional(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)])
    province = StringField(_l("Province"), validators=[Optional(), Length(max=80)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=80)])
    district = StringField(_l("District"), validators=[Optional(), Length(max=80)])
    line1 = StringField(_l("Street address"), validators=[Optional(), Length(max=255)])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    delivery_code = RadioField(_l("Delivery"), choices=[], validate_choice=False)
    note = TextAreaField(_l("Note to the shop"), validators=[Optional(), Length(max=500)])
    idempotency_key = HiddenField(validators=[InputRequired()])

    ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "line1", "postcode")

    def typed_address(self) -> dict:
        return {key: self[key].data or "" for key in self.ADDRESS_FIELDS}

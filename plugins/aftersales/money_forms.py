"""Settings of the money side (compensation figures and caps, store credit) and staff forms.

Amounts are integer minor units of the shop currency (fen for CNY: 100 = ¥1),
percentages integer basis points (500 = 5 %), so the figures work for any
currency without floats.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from storefront.forms import FlaskForm

MONEY_DEFAULT_SETTINGS: dict = {
    # Store credit is applied at checkout automatically unless the buyer turned it off.
    "credit_at_checkout": True,
    "compensation_method": "credit",  # credit | refund
    "late_compensation": True,
    "late_percent_bp": 500,
    "late_min": 100,
    "late_max": 3000,
    "oos_compensation": True,
    "oos_percent_bp": 3000,
    "oos_cap": 3000,
    # Missed late/out-of-stock events younger than this are compensated by the sweep.
    "compensation_catch_up_hours": 24,
    "quality_flag_threshold": 3,
}

_MINOR = _l("In minor units of the shop currency (100 = ¥1.00).")
_BP = _l("In basis points (500 = 5 %).")


class MoneySettingsForm(FlaskForm):
    """Base of the plugin's settings form; the cases side adds its fields in a subclass."""

    credit_at_checkout = BooleanField(_l("Buyers can spend store credit at checkout"), default=True)
    compensation_method = SelectField(
        _l("Pay compensation as"), default="credit",
        choices=[SelectChoice("credit", _l("Store credit")),
                 SelectChoice("refund", _l("Refund to the original payment"))])
    late_compensation = BooleanField(_l("Compensate late shipment automatically"), default=True)
    late_percent_bp = IntegerField(_l("Late shipment: share of the paid amount"), default=500, description=_BP,
                                   validators=[InputRequired(), NumberRange(min=0, max=10000)])
    late_min = IntegerField(_l("Late shipment: at least"), default=100, description=_MINOR,
                            validators=[InputRequired(), NumberRange(min=0, max=10**9)])
    late_max = IntegerField(_l("Late shipment: at most"), default=3000, description=_MINOR,
                            validators=[InputRequired(), NumberRange(min=0, max=10**9)])
    oos_compensation = BooleanField(_l("Compensate out-of-stock cancellations automatically"), default=True)
    oos_percent_bp = IntegerField(_l("Out of stock: share of the item price"), default=3000, description=_BP,
                                  validators=[InputRequired(), NumberRange(min=0, max=10000)])
    oos_cap = IntegerField(_l("Out of stock: at most"), default=3000, description=_MINOR,
                           validators=[InputRequired(), NumberRange(min=0, max=10**9)])
    compensation_catch_up_hours = IntegerField(
        _l("Catch up missed compensations younger than (hours, 0 = never)"), default=24,
        validators=[InputRequired(), NumberRange(min=0, max=24 * 90)])
    quality_flag_threshold = IntegerField(_l("Flag a product after this many quality complaints in 30 days"),
                                          default=3, validators=[InputRequired(), NumberRange(min=1, max=1000)])

    def validate_late_max(self, field):
        from wtforms.validators import ValidationError

        if self.late_min.data is not None and field.data is not None and field.data < self.late_min.data:
            raise ValidationError(_l("Must not be below the minimum."))


class CreditAdjustForm(FlaskForm):
    amount = StringField(_l("Amount (negative to deduct)"), validators=[InputRequired(), Length(max=20)])
    note = TextAreaField(_l("Reason (shown to the buyer)"), validators=[InputRequired(), Length(max=500)])
    # A fresh key per rendered form: a double submission posts the same credit once.
    key = HiddenField(validators=[Optional(), Length(max=80)])


class CreditPreferenceForm(FlaskForm):
    use_at_checkout = BooleanField(_l("Use my store credit at checkout"))


class WrongShipmentForm(FlaskForm):
    order_number = StringField(_l("Order number"), validators=[InputRequired(), Length(max=32)])
    case_id = StringField(validators=[Optional(), Length(max=20)])
    expected_item = StringField(_l("Item ordered"), validators=[Optional(), Length(max=200)])
    sent_item = StringField(_l("Item sent"), validators=[Optional(), Length(max=200)])
    quantity = IntegerField(_l("Quantity"), default=1, validators=[InputRequired(), NumberRange(min=1, max=9999)])
    resolution = SelectField(_l("Resolution"), default="reship",
                             choices=[SelectChoice("reship", _l("Reshipped")),
                                      SelectChoice("exchange", _l("Exchanged")),
                                      SelectChoice("refund", _l("Refunded")), SelectChoice("other", _l("Other"))])
    cost = StringField(_l("Cost to the shop"), default="0", validators=[Optional(), Length(max=20)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class ParcelClaimForm(FlaskForm):
    order_number = StringField(_l("Order number"), validators=[InputRequired(), Length(max=32)])
    case_id = StringField(validators=[Optional(), Length(max=20)])
    kind = SelectField(_l("Problem"), choices=[SelectChoice("lost", _l("Parcel lost")),
                                               SelectChoice("damaged", _l("Parcel damaged"))])
    carrier = StringField(_l("Carrier"), validators=[Optional(), Length(max=40)])
    tracking_number = StringField(_l("Tracking number"), validators=[Optional(), Length(max=64)])
    paid_to_buyer = StringField(_l("Paid to the buyer"), default="0", validators=[Optional(), Length(max=20)])
    claimed_from_carrier = StringField(_l("Claimed from the carrier"), default="0",
                                       validators=[Optional(), Length(max=20)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class ParcelStatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[SelectChoice("open", _l("Open")),
                                                SelectChoice("claimed", _l("Claimed from carrier")),
                                                SelectChoice("settled", _l("Settled")),
                                                SelectChoice("rejected", _l("Rejected by carrier"))])

"""Forms of the order tracking plugin (staff pages, guest lookup, settings)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from .models import STATUSES

from storefront.forms import FlaskForm

STATUS_LABELS = {"in_transit": _l("In transit"), "out_for_delivery": _l("Out for delivery"),
                 "delivered": _l("Delivered"), "exception": _l("Problem (exception)"),
                 "info": _l("Information")}
assert list(STATUS_LABELS) == list(STATUSES)


class CarrierForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)],
                       description=_l("Must match the name in the shop's carrier list."))
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)],
                       description=_l("Used by the tracking webhook, e.g. sf, zto."))
    tracking_url = StringField(_l("Tracking page"), validators=[Optional(), Length(max=500)],
                               description=_l("https:// address with {tracking} where the number goes."))
    transit_days = IntegerField(_l("Typical transit days"), default=3,
                                validators=[InputRequired(), NumberRange(min=0, max=60)])
    active = BooleanField(_l("Active"), default=True)


class ParcelForm(FlaskForm):
    carrier = SelectField(_l("Carrier"), choices=[])
    tracking_number = StringField(_l("Tracking number"), validators=[DataRequired(), Length(max=40)])


class EventForm(FlaskForm):
    at = DateTimeLocalField(_l("Time (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    status = SelectField(_l("Status"), choices=[SelectChoice(k, v) for k, v in STATUS_LABELS.items()])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=500)])


class LookupForm(FlaskForm):
    number = StringField(_l("Order number"), validators=[DataRequired(), Length(max=32)])
    contact = StringField(_l("Phone number or e-mail on the order"),
                          validators=[DataRequired(), Length(max=254)])


class OrderTrackingSettingsForm(FlaskForm):
    webhook_secret = StringField(_l("Webhook secret"), validators=[Optional(), Length(min=16, max=200)],
                                 description=_l("Shared with the tracking aggregator; empty turns the webhook off."))
    stuck_days = IntegerField(_l("Days without news before a parcel counts as stuck"), default=3,
                              validators=[InputRequired(), NumberRange(min=1, max=60)])
    signed_link_days = IntegerField(_l("Days a tracking link in e-mails stays valid"), default=30,
                                    validators=[InputRequired(), NumberRange(min=1, max=90)])

"""Staff forms: a location, its stock, the counter's verify box, plugin settings."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from storefront.forms import FlaskForm

HOUR_HINT = _l("e.g. 09:00-21:00; empty = closed")


class LocationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)])
    address = StringField(_l("Address"), validators=[InputRequired(), Length(max=255)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=80)])
    province = StringField(_l("Province"), validators=[Optional(), Length(max=80)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)])
    map_url = StringField(_l("Map link (https://...)"), validators=[Optional(), Length(max=500)])
    hours_0 = StringField(_l("Monday"), description=HOUR_HINT)
    hours_1 = StringField(_l("Tuesday"), description=HOUR_HINT)
    hours_2 = StringField(_l("Wednesday"), description=HOUR_HINT)
    hours_3 = StringField(_l("Thursday"), description=HOUR_HINT)
    hours_4 = StringField(_l("Friday"), description=HOUR_HINT)
    hours_5 = StringField(_l("Saturday"), description=HOUR_HINT)
    hours_6 = StringField(_l("Sunday"), description=HOUR_HINT)
    closed_dates = TextAreaField(_l("Closed dates (one per line, 2026-11-11)"), validators=[Optional()])
    prep_minutes = IntegerField(_l("Preparation time (minutes)"), default=60, validators=[InputRequired()])
    slot_minutes = IntegerField(_l("Slot length (minutes)"), default=60, validators=[InputRequired()])
    slot_capacity = IntegerField(_l("Pickups per slot"), default=10, validators=[InputRequired()])
    active = BooleanField(_l("Active (offered at checkout)"), default=True)

    def to_data(self) -> dict:
        data = {key: self[key].data for key in ("name", "address", "city", "province", "phone", "map_url",
                                                 "closed_dates", "prep_minutes", "slot_minutes",
                                                 "slot_capacity", "active")}
        data["hours"] = {str(day): self[f"hours_{day}"].data or "" for day in range(7)}
        return data


class StockForm(FlaskForm):
    """One SKU's count at a store. ``expected`` (hidden, the number shown) guards
    against overwriting stock reserved while the form was open; blank = not tracked."""

    sku = StringField(_l("Product variant (SKU code)"), validators=[InputRequired(), Length(max=64)])
    quantity = StringField(_l("In this store"), validators=[Length(max=10)],
                           description=_l("Empty = not tracked here"))
    expected = HiddenField()
    check = HiddenField()


class VerifyForm(FlaskForm):
    code = StringField(_l("Pickup code"), validators=[InputRequired(), Length(max=20)])


class StorePickupSettingsForm(FlaskForm):
    days_ahead = IntegerField(_l("Days of pickup times offered"), default=3,
                              validators=[InputRequired(), NumberRange(min=1, max=30)])
    remind_after_days = IntegerField(_l("Remind the buyer after (days ready)"), default=3,
                                     validators=[InputRequired(), NumberRange(min=1, max=60)])
    cancel_after_days = IntegerField(_l("Cancel and refund after (days ready)"), default=7,
                                     validators=[InputRequired(), NumberRange(min=1, max=90)])
    max_wrong_codes = IntegerField(_l("Wrong codes before the counter locks"), default=5,
                                   validators=[InputRequired(), NumberRange(min=1, max=50)])
    lockout_minutes = IntegerField(_l("Counter lock (minutes)"), default=15,
                                   validators=[InputRequired(), NumberRange(min=1, max=1440)])

"""Settings form and the staff coupon form (money typed in major units, e.g. 19.90)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from storefront.forms import FlaskForm

KIND_CHOICES = [SelectChoice("percent", _l("Percentage off")), SelectChoice("fixed", _l("Fixed amount off")),
                SelectChoice("tiers", _l("Spend-threshold tiers (满减)")),
                SelectChoice("repeat", _l("Every X spent, Y off")), SelectChoice("shipping", _l("Free shipping"))]
DT = "%Y-%m-%dT%H:%M"


class CouponsSettingsForm(FlaskForm):
    return_on_close = BooleanField(_l("Give the coupon back when an order closes unpaid or is cancelled "
                                      "before shipment"), default=True)
    code_attempts_per_minute = IntegerField(_l("Coupon code attempts per buyer per minute"), default=10,
                                            validators=[InputRequired(), NumberRange(min=1, max=100)])


class CouponForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    kind = SelectField(_l("Type"), choices=KIND_CHOICES, default="fixed")
    code = StringField(_l("Code (empty: wallet only)"), validators=[Optional(), Length(max=40)])
    percent = StringField(_l("Percent off (e.g. 10 or 12.5)"), validators=[Optional(), Length(max=8)])
    max_discount = StringField(_l("Maximum discount (percent and repeating; empty: none)"),
                               validators=[Optional(), Length(max=20)])
    amount = StringField(_l("Amount off (fixed and repeating)"), validators=[Optional(), Length(max=20)])
    step = StringField(_l("Every ... spent (repeating)"), validators=[Optional(), Length(max=20)])
    tiers = StringField(_l("Tiers spend:off, e.g. 200:20, 500:60"), validators=[Optional(), Length(max=500)])
    min_spend = StringField(_l("Minimum spend"), validators=[Optional(), Length(max=20)])
    product_ids = StringField(_l("Only these product ids (comma-separated; empty: whole shop)"),
                              validators=[Optional(), Length(max=2000)])
    exclude_presale = BooleanField(_l("Exclude presale items"))
    exclude_discounted = BooleanField(_l("Exclude items already on sale"))
    starts_at = DateTimeLocalField(_l("Valid from (shop time)"), format=DT, validators=[Optional()])
    ends_at = DateTimeLocalField(_l("Valid until (shop time, exclusive)"), format=DT, validators=[Optional()])
    total_quantity = IntegerField(_l("Total uses (empty: unlimited)"), validators=[Optional(), NumberRange(min=1)])
    per_buyer_limit = IntegerField(_l("Uses per buyer (empty: unlimited)"), default=1,
                                   validators=[Optional(), NumberRange(min=1)])
    claimable = BooleanField(_l("Buyers can claim it into their wallet"))
    claim_quota = IntegerField(_l("Claim quota (empty: unlimited)"), validators=[Optional(), NumberRange(min=1)])
    single_use_codes = BooleanField(_l("Used only through generated single-use codes"))
    active = BooleanField(_l("Active"), default=True)


class GenerateForm(FlaskForm):
    count = IntegerField(_l("How many codes"), default=100, validators=[InputRequired(), NumberRange(min=1, max=5000)])

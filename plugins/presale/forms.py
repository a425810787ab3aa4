"""Staff forms: a presale campaign (quota inputs are rendered per SKU), plugin settings."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, DateTimeLocalField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional

from storefront.catalog.forms import MoneyField
from storefront.forms import FlaskForm

DT = "%Y-%m-%dT%H:%M"


class CampaignForm(FlaskForm):
    mode = SelectField(_l("Payment"), choices=[SelectChoice("full", _l("Full payment now")),
                                               SelectChoice("deposit", _l("Deposit now, balance later"))])
    starts_at = DateTimeLocalField(_l("Presale starts (shop time)"), format=DT, validators=[InputRequired()])
    ends_at = DateTimeLocalField(_l("Presale ends (shop time, exclusive)"), format=DT, validators=[InputRequired()])
    promise_kind = SelectField(_l("Ship promise"), choices=[SelectChoice("date", _l("Ships by a fixed date")),
                                                            SelectChoice("days", _l("Ships within N days of payment"))])
    ship_by_date = DateField(_l("Ships by (date)"), validators=[Optional()])
    ship_within_days = IntegerField(_l("Ships within (days of payment)"), validators=[Optional()])
    price = MoneyField(_l("Presale price"), validators=[Optional()], description=_l("Empty = the variant's price"))
    per_buyer_limit = IntegerField(_l("Limit per buyer"), validators=[Optional()], description=_l("Empty = no limit"))
    deposit = MoneyField(_l("Deposit per item"), validators=[Optional()])
    deposit_value = MoneyField(_l("Deposit counts as"), validators=[Optional()],
                               description=_l("Deposit expansion: e.g. a 50.00 deposit worth 100.00 off; "
                                              "empty = its own amount"))
    balance_opens_at = DateTimeLocalField(_l("Balance window opens (shop time)"), format=DT, validators=[Optional()])
    balance_closes_at = DateTimeLocalField(_l("Balance window closes (shop time)"), format=DT,
                                           validators=[Optional()])
    return_deposit = BooleanField(_l("Return the deposit when the balance is not paid (default: kept)"))
    active = BooleanField(_l("Active"), default=True)


class QuotaForm(FlaskForm):
    """Raise or lower one variant's quota from the list (never below what is sold)."""

    quota = IntegerField(_l("Quota"), validators=[InputRequired(), NumberRange(min=0, max=1_000_000)])


class PresaleSettingsForm(FlaskForm):
    remind_hours_before_close = IntegerField(
        _l("Remind buyers this many hours before the balance window closes"), default=24,
        validators=[InputRequired(), NumberRange(min=1, max=240)])

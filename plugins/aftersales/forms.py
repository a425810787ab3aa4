"""Forms of the cases side: the plugin settings (extending the money side's),
the buyer's request, and the staff's decision forms."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (BooleanField, HiddenField, IntegerField, MultipleFileField, SelectField, StringField,
                     TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from .money_forms import MONEY_DEFAULT_SETTINGS, MoneySettingsForm

from storefront.forms import FlaskForm

CASES_DEFAULT_SETTINGS: dict = {
    "auto_approve_unshipped": True,
    # 0 = any amount.
    "auto_approve_unshipped_max": 0,
    "auto_approve_no_reason_returns": True,
    "no_reason_return_days": 7,
    "return_address": "",
    "return_post_days": 7,
    # 0 = never decide for the buyer automatically.
    "auto_refund_after_hours": 48,
    "first_response_minutes": 5,
    "logistics_hours": 48,
    # How long after completion a buyer may still open a request.
    "request_window_days": 15,
}

DEFAULT_SETTINGS: dict = {**MONEY_DEFAULT_SETTINGS, **CASES_DEFAULT_SETTINGS}

_MINOR = _l("In minor units of the shop currency (100 = ¥1.00).")


class AftersalesSettingsForm(MoneySettingsForm):
    auto_approve_unshipped = BooleanField(_l("Approve refunds on unshipped orders automatically"), default=True)
    auto_approve_unshipped_max = IntegerField(
        _l("... up to this amount (0 = any amount)"), default=0, description=_MINOR,
        validators=[InputRequired(), NumberRange(min=0, max=10**9)])
    auto_approve_no_reason_returns = BooleanField(_l("Approve no-reason returns automatically"), default=True)
    no_reason_return_days = IntegerField(_l("No-reason returns: days after delivery"), default=7,
                                         validators=[InputRequired(), NumberRange(min=0, max=90)])
    return_address = TextAreaField(_l("Return address"), validators=[Optional(), Length(max=400)])
    return_post_days = IntegerField(_l("Days the buyer has to post a return"), default=7,
                                    validators=[InputRequired(), NumberRange(min=1, max=60)])
    auto_refund_after_hours = IntegerField(
        _l("Decide for the buyer when staff have not answered within (hours, 0 = never)"), default=48,
        validators=[InputRequired(), NumberRange(min=0, max=24 * 60)])
    first_response_minutes = IntegerField(_l("First response target (minutes)"), default=5,
                                          validators=[InputRequired(), NumberRange(min=1, max=24 * 60)])
    logistics_hours = IntegerField(_l("Logistics cases resolved within (hours)"), default=48,
                                   validators=[InputRequired(), NumberRange(min=1, max=24 * 30)])
    request_window_days = IntegerField(_l("Requests possible until (days after completion)"), default=15,
                                       validators=[InputRequired(), NumberRange(min=0, max=365)])


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Message"), validators=[InputRequired(), Length(max=2000)])


class TrackingForm(FlaskForm):
    carrier = SelectField(_l("Carrier"), choices=[])
    tracking_number = StringField(_l("Tracking number"), validators=[InputRequired(), Length(max=40)])


class EmptyForm(FlaskForm):
    """Buttons without fields still carry a CSRF token."""


def _method_choices():
    return [SelectChoice("original", _l("To the original payment method")),
            SelectChoice("credit", _l("As store credit"))]


class ApproveForm(FlaskForm):
    return_address = TextAreaField(_l("Return address"), validators=[Optional(), Length(max=400)])
    # Shown for a refund before shipment, which approval pays at once.
    method = SelectField(_l("Pay the refund"), choices=_method_choices(), default="original")


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason (shown to the buyer)"), validators=[InputRequired(), Length(max=1000)])


class ArriveForm(FlaskForm):
    """The return parcel is at the shop; inspection is a separate step."""

    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])


class InspectForm(FlaskForm):
    inspection_result = SelectField(_l("Inspection"), choices=[
        SelectChoice("restock", _l("Fine: back on sale")), SelectChoice("no_restock", _l("Not resaleable"))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])


class RefundForm(FlaskForm):
    amount = StringField(_l("Amount"), validators=[Optional(), Length(max=20)])
    method = SelectField(_l("Pay the refund"), choices=_method_choices(), default="original")


class ReshipForm(FlaskForm):
    carrier = SelectField(_l("Carrier"), choices=[])
    tracking_number = StringField(_l("Tracking number"), validators=[InputRequired(), Length(max=40)])


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Assignee"), choices=[], validate_choice=False)
    category = SelectField(_l("Category"), choices=[], validate_choice=False)


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Internal note"), validators=[InputRequired(), Length(max=1000)])


class RequestForm(FlaskForm):
    """The buyer's request; the per-line quantities are ``qty_<order line id>`` inputs
    (errors about them land on the hidden ``lines`` field)."""

    kind = SelectField(_l("What would you like?"), choices=[])
    reason = SelectField(_l("Reason"), choices=[])
    description = TextAreaField(_l("Describe the problem"), validators=[Optional(), Length(max=2000)])
    amount = StringField(_l("Amount to refund"), validators=[Optional(), Length(max=20)])
    evidence = MultipleFileField(_l("Photos (JPEG, PNG or WebP)"))
    lines = HiddenField()


class EvidenceForm(FlaskForm):
    evidence = MultipleFileField(_l("Add photos"))

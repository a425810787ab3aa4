"""Forms of the buyer order pages and the admin order pages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..forms import FlaskForm
from ..settings import get_setting
from .status import (CANCEL_REASON_LABELS, NOTE_FLAG_LABELS, SELLER_CANCEL_REASONS, STATUS_LABELS,
                     NoteFlag, OrderStatus)


class ActionForm(FlaskForm):
    """A button that changes state: only the CSRF token."""


class BuyerNoteForm(FlaskForm):
    body = TextAreaField(_l("Note to the shop"), validators=[DataRequired(), Length(max=1000)])


class StaffNoteForm(FlaskForm):
    body = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=1000)])
    flag = SelectField(_l("Flag"), choices=[SelectChoice(f.value, NOTE_FLAG_LABELS[f]) for f in NoteFlag],
                       default=NoteFlag.NONE.value)


class ShipForm(FlaskForm):
    carrier = SelectField(_l("Carrier"), validators=[DataRequired()])
    tracking_number = StringField(_l("Tracking number"), validators=[DataRequired(), Length(min=4, max=40)],
                                  description=_l("4 to 40 letters, digits or dashes."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The carrier list is a shop setting, read per request.
        self.carrier.choices = [SelectChoice(str(c), str(c)) for c in get_setting("carriers") or []]


class SellerCancelForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=[SelectChoice(r.value, CANCEL_REASON_LABELS[r]) for r in SELLER_CANCEL_REASONS],
                         validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)],
                         description=_l("Required when the buyer could not be reached: say how you tried."))


class StaffFilterForm(FlaskForm):
    """GET filters of the admin order list (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validators=[Optional()],
                         choices=[SelectChoice("", _l("All"))]
                         + [SelectChoice(s.value, STATUS_LABELS[s]) for s in OrderStatus])
    date_from = DateField(_l("Placed from"), validators=[Optional()])
    date_to = DateField(_l("Placed to"), validators=[Optional()])
    q = StringField(_l("Order number or phone"), validators=[Optional(), Length(max=64)])
    overdue = BooleanField(_l("Overdue to ship"))


class ImportTrackingForm(FlaskForm):
    file = FileField(_l("CSV file (order_number, carrier, tracking_number)"), validators=[FileRequired()])

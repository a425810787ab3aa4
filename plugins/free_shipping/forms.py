"""The plugin's settings form (rendered and stored by the core's plugin admin page)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from storefront.errors import ValidationFailed
from storefront.forms import FlaskForm


class FreeShippingSettingsForm(FlaskForm):
    thresholds = StringField(
        _l("Thresholds per delivery method"), validators=[Optional(), Length(max=500)],
        description=_l("code:amount, comma-separated, e.g. courier:99.00, express:199.00 "
                       "(pickup is free anyway)."))
    basis = SelectField(_l("Compare the threshold with"),
                        choices=[SelectChoice("after", _l("the amount after discounts")),
                                 SelectChoice("before", _l("the amount before discounts"))], default="after")
    excluded_regions = TextAreaField(
        _l("Excluded regions"), validators=[Optional(), Length(max=2000)],
        description=_l("Province names, one per line or comma-separated; they always pay shipping."))

    def validate_thresholds(self, field):
        from .services import parse_thresholds

        try:
            parse_thresholds(field.data or "")
        except ValidationFailed as exc:
            raise ValidationError(exc.message) from None

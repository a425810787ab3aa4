"""Cart forms. Quantities arrive as text so that a bad value becomes a field error, not a 400;
the service's parse_quantity decides what is valid (the same rule as the API)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired

from ..forms import FlaskForm


class AddToCartForm(FlaskForm):
    sku_id = HiddenField(_l("Option"), validators=[InputRequired(message=_l("Choose a product option."))])
    quantity = StringField(_l("Quantity"), default="1",
                           validators=[InputRequired(message=_l("Enter a quantity."))])


class UpdateLineForm(FlaskForm):
    sku_id = HiddenField(validators=[InputRequired()])
    quantity = StringField(_l("Quantity"), validators=[InputRequired(message=_l("Enter a quantity."))])


class RemoveLineForm(FlaskForm):
    sku_id = HiddenField(validators=[InputRequired()])

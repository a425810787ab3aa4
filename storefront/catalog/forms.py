"""Admin forms for the catalog. They parse what staff type; services decide."""
from __future__ import annotations

import re

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..forms import FlaskForm
from ..money import MoneyError, parse_money


class MoneyField(StringField):
    """A price typed like "129.00", parsed into minor units of the shop currency."""

    def process_formdata(self, valuelist):
        self.data = None
        self.raw = valuelist[0].strip() if valuelist else ""
        if not self.raw:
            return
        try:
            self.data = parse_money(self.raw, current_app.config["STOREFRONT_CURRENCY"]).amount
        except MoneyError as exc:
            self.data = None
            raise ValueError(_l("Enter an amount like 129.00 (no minus sign, at most two decimals).")) from exc

    def _value(self):
        if getattr(self, "raw", None) is not None:
            return self.raw
        if self.data is None:
            return ""
        from ..money import Money

        return str(Money(int(self.data), current_app.config["STOREFRONT_CURRENCY"]).decimal)


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in re.split(r"[,/]", text or "") if part.strip()]


class ProductForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    slug = StringField(_l("Address (slug)"), validators=[Optional(), Length(max=120)],
                       description=_l("Leave empty to make it from the name."))
    description = TextAreaField(_l("Description"), validators=[Length(max=20000)])
    category_id = SelectField(_l("Category"), coerce=int, default=0)
    option_names = StringField(_l("Option names"), validators=[Length(max=200)],
                               description=_l("Comma separated, e.g. Colour, Size"))
    active = BooleanField(_l("Visible in the shop"), default=True)

    def to_data(self) -> dict:
        return {"name": self.name.data, "slug": self.slug.data, "description": self.description.data,
                "category_id": self.category_id.data or None, "option_names": split_list(self.option_names.data),
                "active": self.active.data}


class SkuForm(FlaskForm):
    code = StringField(_l("SKU code"), validators=[DataRequired(), Length(max=64)])
    options = StringField(_l("Option values"), validators=[Length(max=200)],
                          description=_l("In the order of the option names, e.g. Black / M"))
    price = MoneyField(_l("Price"), validators=[InputRequired()])
    compare_at_price = MoneyField(_l("Compare-at price"), validators=[Optional()],
                                  description=_l("Shown crossed out when higher than the price."))
    stock = IntegerField(_l("Stock"), default=0, validators=[InputRequired(), NumberRange(min=0, max=1_000_000)])
    low_stock_threshold = IntegerField(_l("Low-stock threshold"), default=5,
                                       validators=[InputRequired(), NumberRange(min=0, max=1_000_000)])
    active = BooleanField(_l("On sale"), default=True)

    def to_data(self) -> dict:
        data = {"code": self.code.data, "options": split_list(self.options.data), "price": self.price.data,
                "compare_at_price": self.compare_at_price.data,
                "low_stock_threshold": self.low_stock_threshold.data, "active": self.active.data}
        if self.stock is not None:
            data["stock"] = self.stock.data
        return data


class SkuEditForm(SkuForm):
    """Editing a SKU never sets stock: that goes through the stock form."""

    stock = None


class StockForm(FlaskForm):
    mode = SelectField(_l("Change"), choices=[SelectChoice("adjust", _l("Add / remove")),
                                              SelectChoice("set", _l("Set to"))],
                       default="adjust")
    quantity = IntegerField(_l("Quantity"), validators=[InputRequired()])
    expected = HiddenField()
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=200)])

    def expected_value(self) -> int | None:
        try:
            return int(self.expected.data)
        except (TypeError, ValueError):
            return None


class ImageForm(FlaskForm):
    image = FileField(_l("Picture (JPEG, PNG or WebP)"), validators=[FileRequired()])
    alt = StringField(_l("Description for screen readers"), validators=[Optional(), Length(max=200)])


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    slug = StringField(_l("Address (slug)"), validators=[Optional(), Length(max=80)])
    position = IntegerField(_l("Position"), default=0, validators=[Optional(), NumberRange(min=0, max=10000)])


class ActionForm(FlaskForm):
    """An empty form: a CSRF-protected POST button (delete, move)."""

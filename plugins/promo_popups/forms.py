"""Admin forms. Times are entered in the shop time zone; views convert them to UTC."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (BooleanField, DateTimeLocalField, IntegerField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.fields.choices import SelectChoice

from storefront.forms import FlaskForm


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


PAGE_CHOICES = [SelectChoice("home", _l("Home page")), SelectChoice("product", _l("Product pages")),
                SelectChoice("category", _l("Category and search pages")), SelectChoice("cart", _l("Cart")),
                SelectChoice("all", _l("Every shop page (never checkout or payment)"))]
AUDIENCE_CHOICES = [SelectChoice("everyone", _l("Everyone")), SelectChoice("new", _l("New visitors (first visit)")),
                    SelectChoice("signed_in", _l("Signed-in buyers")),
                    SelectChoice("no_order", _l("Signed-in buyers with no order yet"))]
TRIGGER_CHOICES = [SelectChoice("load", _l("When the page loads")), SelectChoice("delay", _l("After N seconds")),
                   SelectChoice("scroll", _l("After scrolling N percent of the page")),
                   SelectChoice("exit", _l("On exit intent (desktop)"))]
FREQUENCY_CHOICES = [SelectChoice("always", _l("Every page view")), SelectChoice("session", _l("Once per visit")),
                     SelectChoice("day", _l("Once per day")), SelectChoice("once", _l("Only once"))]
DT = "%Y-%m-%dT%H:%M"


class PopupForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    body = TextAreaField(_l("Text"), validators=[Optional(), Length(max=5000)],
                         description=_l("Bold, italic, lists, links and images are kept; anything else is removed."))
    image_file = FileField(_l("Image (JPEG, PNG or WebP)"),
                           description=_l("Uploaded and re-encoded by the shop; leave empty to keep the current one."))
    image_remove = BooleanField(_l("Remove the current image"))
    image_alt = StringField(_l("Image description"), validators=[Optional(), Length(max=200)])
    cta_label = StringField(_l("Button label"), validators=[Optional(), Length(max=60)])
    cta_url = StringField(_l("Button link"), validators=[Optional(), Length(max=500)],
                          description=_l("A shop page starting with / or an https:// address."))
    starts_at = DateTimeLocalField(_l("Starts (shop time)"), format=DT, validators=[Optional()])
    ends_at = DateTimeLocalField(_l("Ends (shop time, exclusive)"), format=DT, validators=[Optional()])
    pages = MultiCheckboxField(_l("Pages"), choices=PAGE_CHOICES, default=["home"])
    audience = SelectField(_l("Audience"), choices=AUDIENCE_CHOICES, default="everyone")
    trigger = SelectField(_l("Show"), choices=TRIGGER_CHOICES, default="load")
    trigger_value = IntegerField(_l("N (seconds, or percent scrolled)"), default=0,
                                 validators=[InputRequired(), NumberRange(min=0, max=3600)])
    frequency = SelectField(_l("How often"), choices=FREQUENCY_CHOICES, default="session")
    priority = IntegerField(_l("Priority (highest shows when several match)"), default=0,
                            validators=[InputRequired(), NumberRange(min=-1000, max=1000)])
    active = BooleanField(_l("Active"), default=True)
    coupon_code = StringField(_l("Linked coupon code"), validators=[Optional(), Length(max=40)],
                              description=_l("Shows a Claim button when the coupons plugin is enabled."))
    b_enabled = BooleanField(_l("A/B test: show variant B to part of the visitors"))
    split_percent = IntegerField(_l("Visitors who see variant B (%)"), default=50,
                                 validators=[InputRequired(), NumberRange(min=0, max=100)])
    b_title = StringField(_l("Variant B title"), validators=[Optional(), Length(max=120)])
    b_body = TextAreaField(_l("Variant B text (empty: same as A)"), validators=[Optional(), Length(max=5000)])
    b_cta_label = StringField(_l("Variant B button label"), validators=[Optional(), Length(max=60)])
    b_cta_url = StringField(_l("Variant B button link"), validators=[Optional(), Length(max=500)])


class PromoPopupsSettingsForm(FlaskForm):
    show_on_phones = BooleanField(_l("Show popups on phones"), default=True)

"""Account forms. They check shape only; the services decide (and re-check)."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..forms import FlaskForm, show_service_error
from ..i18n import LOCALE_NAMES
from .services import EMAIL_MAX, PASSWORD_MAX, PASSWORD_MIN


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=EMAIL_MAX)],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=PASSWORD_MAX)],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class RegisterForm(FlaskForm):
    """Step one of registration: only the address (the mailed link leads to step two)."""
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=EMAIL_MAX)],
                       render_kw={"autocomplete": "email", "autofocus": True})
    next = HiddenField()


class FinishRegistrationForm(FlaskForm):
    """Step two, behind the confirmation link: the rest of the account."""
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name", "autofocus": True})
    phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=32)],
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
        description=_l("At least %(n)s characters.", n=PASSWORD_MIN),
        render_kw={"autocomplete": "new-password", "minlength": PASSWORD_MIN})
    confirm = PasswordField(_l("Repeat the password"),
                            validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=EMAIL_MAX)],
                       render_kw={"autocomplete": "email", "autofocus": True})


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
        description=_l("At least %(n)s characters.", n=PASSWORD_MIN),
        render_kw={"autocomplete": "new-password", "minlength": PASSWORD_MIN, "autofocus": True})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new_password", _l("The passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
        description=_l("At least %(n)s characters.", n=PASSWORD_MIN),
        render_kw={"autocomplete": "new-password", "minlength": PASSWORD_MIN})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new_password", _l("The passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class AddressForm(FlaskForm):
    name = StringField(_l("Recipient"), validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=32)],
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    province = StringField(_l("Province"), validators=[Optional(), Length(max=80)],
                           render_kw={"autocomplete": "address-level1"})
    city = StringField(_l("City"), validators=[Optional(), Length(max=80)],
                       render_kw={"autocomplete": "address-level2"})
    district = StringField(_l("District"), validators=[Optional(), Length(max=80)],
                           render_kw={"autocomplete": "address-level3"})
    line1 = StringField(_l("Street address"), validators=[DataRequired(), Length(max=255)],
                        render_kw={"autocomplete": "street-address"})
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)],
                           render_kw={"autocomplete": "postal-code"})
    is_default = BooleanField(_l("Use as my default address"))

    def address_data(self) -> dict:
        return {key: getattr(self, key).data for key in
                ("name", "phone", "province", "city", "district", "line1", "postcode")}


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)],
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    locale = SelectField(_l("Preferred language"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = [SelectChoice("", _l("Browser default"))] + [
            SelectChoice(code, LOCALE_NAMES.get(code, code)) for code in current_app.config["STOREFRONT_LOCALES"]
        ]


def apply_service_error(form: FlaskForm, exc) -> bool:
    """Put a service error next to its field; False when the form has no such field."""
    return show_service_error(form, exc)

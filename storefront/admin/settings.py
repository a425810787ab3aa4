"""Admin pages: shop settings (owner only)."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from ..forms import FlaskForm
from ..money import MoneyError, parse_money
from ..settings import all_settings
from .access import owner_required
from .shell_services import save_shop_settings
from .views import bp

SOCIAL_KEYS = ("social_weibo", "social_wechat", "social_xiaohongshu", "social_bilibili", "social_zhihu")
MAX_CARRIERS = 40


def http_url(form, field) -> None:
    """Only absolute http(s) links: a ``javascript:`` or ``data:`` URL in the footer is an attack."""
    value = (field.data or "").strip()
    field.data = value
    if not value:
        return
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or any(c.isspace() for c in value):
        raise ValidationError(_("Enter a full web address starting with http:// or https://."))


def _url_field(label):
    return StringField(label, validators=[Optional(), Length(max=300), http_url])


class ShopSettingsForm(FlaskForm):
    shop_name = StringField(_l("Shop name"), validators=[DataRequired(), Length(max=80)])
    shop_tagline = StringField(_l("Tagline"), validators=[Optional(), Length(max=160)])
    logo_url = _url_field(_l("Logo URL"))
    footer_text = TextAreaField(_l("Footer text"), validators=[Optional(), Length(max=500)])
    social_weibo = _url_field(_l("Weibo"))
    social_wechat = _url_field(_l("WeChat"))
    social_xiaohongshu = _url_field(_l("Xiaohongshu"))
    social_bilibili = _url_field(_l("Bilibili"))
    social_zhihu = _url_field(_l("Zhihu"))
    courier_fee = StringField(_l("Courier fee"), validators=[DataRequired()],
                              description=_l("Flat delivery fee, e.g. 10.00"))
    unpaid_close_minutes = IntegerField(_l("Close unpaid orders after (minutes)"),
                                        validators=[InputRequired(), NumberRange(min=5, max=7 * 24 * 60)])
    ship_within_hours = IntegerField(_l("Ship within (hours after payment)"),
                                     validators=[InputRequired(), NumberRange(min=1, max=60 * 24)])
    auto_confirm_days = IntegerField(_l("Auto-confirm receipt after (days after shipment)"),
                                     validators=[InputRequired(), NumberRange(min=1, max=90)])
    carriers = TextAreaField(_l("Carriers"), validators=[DataRequired()],
                             description=_l("One carrier per line, in the order staff see them."))

    def validate_courier_fee(self, field) -> None:
        try:
            self.courier_fee_minor = parse_money(field.data or "", current_app.config["STOREFRONT_CURRENCY"]).amount
        except MoneyError as exc:
            raise ValidationError(_("Enter an amount such as 10.00 (%(detail)s).", detail=str(exc))) from exc

    def validate_carriers(self, field) -> None:
        lines = carrier_lines(field.data)
        if not lines:
            raise ValidationError(_("Enter at least one carrier."))
        if len(lines) > MAX_CARRIERS:
            raise ValidationError(_("At most %(num)d carriers.", num=MAX_CARRIERS))
        if any(len(line) > 40 for line in lines):
            raise ValidationError(_("A carrier name can have at most 40 characters."))

    def changes(self) -> dict:
        """The validated values in their stored form (money in minor units, carriers a list)."""
        values = {name: (getattr(self, name).data or "").strip()
                  for name in ("shop_name", "shop_tagline", "logo_url", "footer_text", *SOCIAL_KEYS)}
        values.update(
            courier_fee=self.courier_fee_minor,
            unpaid_close_minutes=self.unpaid_close_minutes.data,
            ship_within_hours=self.ship_within_hours.data,
            auto_confirm_days=self.auto_confirm_days.data,
            carriers=carrier_lines(self.carriers.data),
        )
        return values


def carrier_lines(text: str | None) -> list[str]:
    seen: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and line not in seen:
            seen.append(line)
    return seen


def _form_data() -> dict:
    from ..money import Money

    values = dict(all_settings())
    currency = current_app.config["STOREFRONT_CURRENCY"]
    values["courier_fee"] = str(Money(int(values.get("courier_fee") or 0), currency).decimal)
    values["carriers"] = "\n".join(values.get("carriers") or [])
    return values


@bp.route("/settings", methods=["GET", "POST"])
@owner_required
def settings():
    form = ShopSettingsForm() if request.method == "POST" else ShopSettingsForm(formdata=None, data=_form_data())
    if form.validate_on_submit():
        changed = save_shop_settings(form.changes(), actor=current_user)
        flash(_("Settings saved.") if changed else _("Nothing changed."), "success")
        return redirect(url_for("admin.settings"))
    status = 422 if form.errors else 200
    return render_template("admin/settings.html", form=form), status


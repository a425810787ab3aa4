"""WTForms' own messages ("This field is required.", "... characters long.") in the
visitor's language, from a catalogue each process loads once per language."""
from __future__ import annotations

import inspect
from pathlib import Path

import flask_wtf
import pytest
import wtforms
from babel import support
from babel.messages.pofile import read_po

import plugins
import storefront
from storefront.forms import FlaskForm, wtforms_translations
from storefront.i18n import TRANSLATIONS_DIR, compiled_translations_dir
from tests.factories import login, make_user

WTFORMS_POT = Path(wtforms.__file__).parent / "locale" / "wtforms.pot"
LOCALES = ["zh_Hans", "vi"]


def _msgid(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_catalogue_translates_every_message_of_the_installed_wtforms(locale):
    with open(WTFORMS_POT, "rb") as fh:
        wanted = {_msgid(m) for m in read_po(fh) if m.id}
    with open(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "wtforms.po", "rb") as fh:
        catalogue = {_msgid(m): m for m in read_po(fh, locale=locale) if m.id}
    assert len(wanted) > 30  # the template was read: otherwise this proves nothing
    missing = sorted(wanted - set(catalogue))
    assert not missing, f"WTForms has messages {locale}/wtforms.po lacks (add them): {missing}"
    untranslated = sorted(i for i, m in catalogue.items()
                          if m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    assert not untranslated


@pytest.mark.parametrize("locale,required,too_short", [
    ("vi", "Trường này là bắt buộc.", "Phải dài từ 8 đến 128 ký tự."),
    ("zh_Hans", "此项为必填项。", "长度必须在 8 到 128 个字符之间。"),
    ("en", "This field is required.", "Field must be between 8 and 128 characters long."),
])
def test_validation_messages_in_the_buyers_language(app, client, locale, required, too_short):
    user = make_user(email="lan@example.com")
    login(client, user)
    response = client.post(f"/account/password?lang={locale}",
                           data={"current_password": "", "new_password": "short", "confirm": "short"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert required in html and too_short in html
    if locale != "en":
        assert "This field is required." not in html


@pytest.mark.parametrize("locale,not_a_number,too_small", [
    ("vi", "Không phải là số nguyên hợp lệ.", "Số không được nhỏ hơn 1."),
    # WTForms' own Chinese says 大于 ("greater than") for "at least".
    ("zh_Hans", "不是有效的整数。", "数值不能小于 1。"),
])
def test_number_messages(app, locale, not_a_number, too_small):
    with app.test_request_context(f"/?lang={locale}", method="POST", data={"count": "many"}):
        form = _NumberForm()
        assert not form.validate()
        assert not_a_number in form.count.errors
    with app.test_request_context(f"/?lang={locale}", method="POST", data={"count": "0"}):
        form = _NumberForm()
        assert not form.validate()
        assert form.count.errors == [too_small]


class _NumberForm(FlaskForm):
    count = wtforms.IntegerField(validators=[wtforms.validators.NumberRange(min=1)])


def test_each_language_is_loaded_once_per_process(app, client, monkeypatch):
    loads = []
    real_load = support.Translations.load

    def counting_load(dirname=None, locales=None, domain=None):
        loads.append((str(dirname), tuple(str(x) for x in (locales or ())), domain))
        return real_load(dirname, locales, domain)

    wtforms_translations.cache_clear()
    monkeypatch.setattr(support.Translations, "load", staticmethod(counting_load))
    user = make_user(email="hoa@example.com")
    login(client, user)
    for _ in range(3):
        client.post("/account/password?lang=vi", data={"current_password": ""})
    vi_loads = [entry for entry in loads if entry[1] == ("vi",) and entry[2] == "wtforms"]
    assert len(vi_loads) == 2  # the shop's catalogue and WTForms' own, once
    assert str(compiled_translations_dir(app)) in {entry[0] for entry in vi_loads}


def test_wtforms_i18n_switched_off_means_english(app):
    app.config["WTF_I18N_ENABLED"] = False
    try:
        with app.test_request_context("/?lang=vi"):
            form = _PlainForm(formdata=None)
            assert not form.validate()
            assert form.name.errors == ["This field is required."]
    finally:
        app.config["WTF_I18N_ENABLED"] = True


class _PlainForm(FlaskForm):
    name = wtforms.StringField(validators=[wtforms.validators.DataRequired()])


def test_every_form_of_the_shop_and_its_plugins_uses_the_shared_base(app):
    """A form built on flask_wtf.FlaskForm directly would read WTForms' catalogue on every
    request again, and show its messages in English to Vietnamese buyers."""
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    roots = (Path(storefront.__file__).parent, Path(plugins.__file__).parent)
    ours = [cls for cls in subclasses(flask_wtf.FlaskForm)
            if any(Path(inspect.getfile(cls)).is_relative_to(root) for root in roots)]
    assert len(ours) > 40  # the app imported its forms: otherwise this proves nothing
    strays = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in ours if not issubclass(cls, FlaskForm))
    assert not strays

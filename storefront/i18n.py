"""Locales (en, zh_Hans, vi), the language switcher and money formatting."""
from __future__ import annotations

import os
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, request, session
from flask_babel import get_locale

from .extensions import babel
from .money import Money

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"

LOCALE_NAMES = {"en": "English", "zh_Hans": "简体中文", "vi": "Tiếng Việt"}


def compile_catalogs(source_dirs: list[Path], target: Path) -> None:
    """Compile ``.po`` catalogs into ``target`` when missing or stale.

    Compiled ``.mo`` files are build output and never committed; compiling
    them at start-up keeps the Quickstart a single command.
    """
    for source in source_dirs:
        if not source.is_dir():
            continue
        for po_path in source.glob("*/LC_MESSAGES/*.po"):
            locale = po_path.parent.parent.name
            mo_path = target / locale / "LC_MESSAGES" / (po_path.stem + ".mo")
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with open(po_path, "rb") as fh:
                catalog = read_po(fh, locale=locale)
            tmp = mo_path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                write_mo(fh, catalog)
            os.replace(tmp, mo_path)


def select_locale() -> str:
    supported = current_app.config["STOREFRONT_LOCALES"]
    chosen = request.args.get("lang") if request else None
    if chosen in supported:
        return chosen
    stored = session.get("locale")
    if stored in supported:
        return stored
    user = getattr(g, "_login_user", None)
    if user is not None and getattr(user, "locale", None) in supported:
        return user.locale
    # Accept-Language says "zh-CN"/"zh-Hans"/"zh"; all mean Simplified Chinese here.
    header_langs = [lang.replace("-", "_") for lang in request.accept_languages.values()]
    for lang in header_langs:
        if lang in supported:
            return lang
        if lang.lower().startswith("zh") and "zh_Hans" in supported and "Hant" not in lang and "TW" not in lang:
            return "zh_Hans"
        base = lang.split("_")[0]
        if base in supported:
            return base
    return current_app.config["STOREFRONT_DEFAULT_LOCALE"]


def init_i18n(app: Flask) -> None:
    compiled = Path(app.instance_path) / "translations"
    plugin_dirs = [Path(p) for p in app.config.get("STOREFRONT_EXTRA_TRANSLATIONS", [])]
    try:
        compile_catalogs([TRANSLATIONS_DIR, *plugin_dirs], compiled)
    except OSError:  # read-only instance folder: fall back to what is there
        app.logger.warning("could not compile translations into %s", compiled)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(compiled))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    babel.init_app(app, locale_selector=select_locale,
                   timezone_selector=lambda: current_app.config["STOREFRONT_TIMEZONE"])

    @app.template_filter("money")
    def money_filter(amount, currency: str | None = None) -> str:
        return format_money(amount, currency)


def format_money(amount: int | Money | None, currency: str | None = None) -> str:
    if amount is None:
        return ""
    if isinstance(amount, Money):
        money = amount
    else:
        money = Money(int(amount), currency or current_app.config["STOREFRONT_CURRENCY"])
    return money.format(locale=babel_locale_name())


def babel_locale_name() -> str:
    locale = get_locale()
    return str(locale) if locale else "en"


def locale_display(code: str) -> str:
    return LOCALE_NAMES.get(code) or Locale.parse(code).display_name

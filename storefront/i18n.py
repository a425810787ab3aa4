"""Locales (en, zh_Hans, vi), the language switcher and money formatting."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import get_locale, refresh

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
            # Several workers may start at once: each writes its own temporary
            # file and atomically renames it, so nobody reads a half-written .mo.
            fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    write_mo(fh, catalog)
                os.replace(tmp, mo_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


def select_locale() -> str:
    supported = current_app.config["STOREFRONT_LOCALES"]
    if not has_request_context():  # worker, CLI: callers use force_locale for a buyer's language
        return current_app.config["STOREFRONT_DEFAULT_LOCALE"]
    chosen = request.args.get("lang")
    if chosen in supported:
        return chosen
    stored = session.get("locale")
    if stored in supported:
        return stored
    user = getattr(g, "_login_user", None)
    if user is None:
        # The locale is often chosen before anything touched current_user
        # (``<html lang>`` comes first), so load the signed-in user here.
        from flask_login import current_user

        user = current_user if getattr(current_user, "is_authenticated", False) else None
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
    """Compile the catalogs into ``instance/translations`` and set up Flask-Babel.

    Extra catalogs (``STOREFRONT_EXTRA_TRANSLATIONS``, e.g. a third-party
    plugin's ``translations`` folder) compile into their own sub-folders so
    they never overwrite the core's ``messages.mo``; Flask-Babel merges them.
    """
    compiled = Path(app.instance_path) / "translations"
    plugin_dirs = [Path(p) for p in app.config.get("STOREFRONT_EXTRA_TRANSLATIONS", [])]
    targets = [(TRANSLATIONS_DIR, compiled)] + [
        (source, compiled / f"extra-{index}") for index, source in enumerate(plugin_dirs)]
    for source, target in targets:
        try:
            compile_catalogs([source], target)
        except OSError:  # read-only instance folder: fall back to what is there
            app.logger.warning("could not compile translations %s into %s", source, target)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(str(t) for _s, t in targets))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    babel.init_app(app, locale_selector=select_locale,
                   timezone_selector=lambda: current_app.config["STOREFRONT_TIMEZONE"])

    @app.before_request
    def _fresh_locale() -> None:
        # Flask-Babel caches the locale on ``g``; a request that reuses an outer
        # app context (a host app's, the tests') must choose its own again.
        refresh()

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

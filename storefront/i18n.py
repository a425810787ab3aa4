"""Locales (en, zh_Hans, vi), the language switcher, money and date formatting."""
from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from babel import Locale
from babel import dates as babel_dates
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, abort, current_app, redirect, request, session, url_for
from flask_babel import format_time, get_locale, get_translations, refresh

from .clock import utc_to_local
from .context_objects import app_object, g_object, query_value, request_object, session_object, signed_in_user
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
    app = app_object()
    supported = app.config["STOREFRONT_LOCALES"]
    req = request_object()
    if req is None:  # worker, CLI: callers use force_locale for a buyer's language
        return app.config["STOREFRONT_DEFAULT_LOCALE"]
    chosen = query_value("lang")
    if chosen in supported:
        return chosen
    stored = session_object().get("locale")
    if stored in supported:
        return stored
    # The locale is often chosen before anything touched current_user (``<html lang>``
    # comes first), so this loads the signed-in user.
    user = signed_in_user()
    if user is not None and getattr(user, "locale", None) in supported:
        return user.locale
    # Accept-Language says "zh-CN"/"zh-Hans"/"zh"; all mean Simplified Chinese here.
    header_langs = [lang.replace("-", "_") for lang in req.accept_languages.values()]
    for lang in header_langs:
        if lang in supported:
            return lang
        if lang.lower().startswith("zh") and "zh_Hans" in supported and "Hant" not in lang and "TW" not in lang:
            return "zh_Hans"
        base = lang.split("_")[0]
        if base in supported:
            return base
    return app.config["STOREFRONT_DEFAULT_LOCALE"]


def _selected_locale() -> Locale:
    # Flask-Babel parses the selector's answer on every request (Locale.parse: ~8 µs, a
    # hundredth of the signed-in floor); a Locale it is handed it uses as it is.
    return _parsed_locale(select_locale())


@functools.lru_cache(maxsize=16)  # the configured locales and the default: a handful
def _parsed_locale(code: str) -> Locale:
    return Locale.parse(code)


def compiled_translations_dir(app: Flask) -> Path:
    """Where the core's catalogs are compiled (``messages.mo``, ``wtforms.mo``)."""
    return Path(app.instance_path) / "translations"


def init_i18n(app: Flask) -> None:
    """Compile the catalogs into ``instance/translations`` and set up Flask-Babel.

    Extra catalogs (``STOREFRONT_EXTRA_TRANSLATIONS``, e.g. a third-party
    plugin's ``translations`` folder) compile into their own sub-folders so
    they never overwrite the core's ``messages.mo``; Flask-Babel merges them.
    """
    compiled = compiled_translations_dir(app)
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
    babel.init_app(app, locale_selector=_selected_locale,
                   timezone_selector=lambda: current_app.config["STOREFRONT_TIMEZONE"])
    # Literal _() calls are translated when a template is compiled (template_i18n); the
    # rest (plurals, templates built from strings) still come here, through current_translations.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: current_translations().ugettext(s),
        ngettext=lambda s, p, n: current_translations().ungettext(s, p, n),
        pgettext=lambda c, s: current_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: current_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    # The layout names the language three or four times (``<html lang>``, the switcher);
    # Flask-Babel's get_locale() finds its context again each time.
    app.jinja_env.globals["locale_name"] = babel_locale_name

    @app.before_request
    def _fresh_locale() -> None:
        # Flask-Babel caches the locale on ``g``; a request that reuses an outer
        # app context (a host app's, the tests') must choose its own again. A fresh
        # context (every request a server serves) has nothing cached to forget.
        app_g = g_object()
        if app_g is not None and "_flask_babel" in app_g.__dict__:
            refresh()

    @app.template_filter("money")
    def money_filter(amount, currency: str | None = None) -> str:
        return format_money(amount, currency)

    # One way to show a moment everywhere: Flask-Babel's own filters are
    # replaced so that every template (core, plugins, e-mails) shows shop time
    # in the reader's locale ("2026年12月2日 14:05", "14:05 2 thg 12, 2026").
    app.jinja_env.filters["datetimeformat"] = format_shop_datetime
    app.jinja_env.filters["dateformat"] = format_shop_date
    app.jinja_env.filters["shopdatetime"] = format_shop_datetime
    app.jinja_env.filters["shopdate"] = format_shop_date
    app.register_blueprint(language_bp, url_prefix=(app.config.get("STOREFRONT_URL_PREFIX") or "") + "/language")


def gettext(string: str, **variables) -> str:
    """Flask-Babel's ``gettext`` through :func:`current_translations`, for hot loops
    (a label per SKU); import it as ``_`` so that ``pybabel extract`` finds the strings."""
    text = current_translations().ugettext(string)
    return text % variables if variables else text


def current_translations():
    """Flask-Babel's ``get_translations()``, remembered for the current locale and domain.

    Flask-Babel resolves context, domain, locale and its cache key anew on every
    call (measured: a tenth of an error page's CPU).
    """
    return _beside_locale("storefront_translations", get_translations)


def _beside_locale(name: str, compute):
    """``compute()``, kept on Flask-Babel's request context as ``name`` and reused while
    the context's locale and domain are the same objects: ``refresh()`` and
    ``force_locale()`` replace the locale, which makes the next call compute it again.
    Outside a request it is computed every time."""
    app_g = g_object()
    ctx = app_g.get("_flask_babel") if app_g is not None else None
    if ctx is not None:
        memo = getattr(ctx, name, None)
        if memo is not None and memo[0] is getattr(ctx, "babel_locale", None) \
                and memo[1] is getattr(ctx, "babel_domain", None):
            return memo[2]
    value = compute()
    ctx = app_g.get("_flask_babel") if app_g is not None else None  # computing may have made it
    if ctx is not None and getattr(ctx, "babel_locale", None) is not None:
        setattr(ctx, name, (ctx.babel_locale, getattr(ctx, "babel_domain", None), value))
    return value


def format_money(amount: int | Money | None, currency: str | None = None) -> str:
    if amount is None:
        return ""
    if isinstance(amount, Money):
        money = amount
    else:
        money = Money(int(amount), currency or app_object().config["STOREFRONT_CURRENCY"])
    return _formatted(money.amount, money.currency, babel_locale_name())


@functools.lru_cache(maxsize=8192)
def _formatted(amount: int, currency: str, locale: str) -> str:
    # Babel's currency formatting costs ~0.1 ms and a cart page shows a few
    # dozen amounts; the result depends only on these three plain values.
    return Money(amount, currency).format(locale=locale)


def babel_locale_name() -> str:
    """``str(get_locale())`` ("en" outside a request), remembered beside the locale:
    every amount and date a page formats asks for it (a checkout page, ten times)."""
    return _beside_locale("storefront_locale_name", _locale_name)


def _locale_name() -> str:
    locale = get_locale()
    return str(locale) if locale else "en"


def locale_display(code: str) -> str:
    return LOCALE_NAMES.get(code) or Locale.parse(code).display_name


# Dates and times ------------------------------------------------------------

def format_shop_datetime(value: datetime | None, format: str = "medium") -> str:
    """A stored moment in the shop's time zone, per locale, to the minute.

    ``short`` and ``medium`` (the default) give the locale's medium date and
    short time joined the locale's way: "Dec 2, 2026, 2:05 PM",
    "2026年12月2日 14:05", "14:05 2 thg 12, 2026". ``long``/``full`` or a
    Babel pattern are passed to Flask-Babel. ``None`` is an empty string.
    """
    if value is None:
        return ""
    if not isinstance(value, datetime):  # a plain date has no time to show
        return format_shop_date(value, format)
    if format in ("short", "medium"):
        local = utc_to_local(value)
        name = babel_locale_name()
        if _time_is_minutes_only(name):
            time_text = _short_time(local.hour, local.minute, name)
        else:
            time_text = format_time(value, "short")  # Flask-Babel moves it to the shop's zone
        return _date_time_pattern(name).replace("{1}", _local_date(local.date(), "medium", name)) \
            .replace("{0}", time_text)
    from flask_babel import format_datetime

    return format_datetime(value, format)


def format_shop_date(value: date | datetime | None, format: str = "medium") -> str:
    """A day per locale ("2026年12月2日", "2 thg 12, 2026"); a moment is first moved to shop time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = utc_to_local(value).date()
    return _local_date(value, format, babel_locale_name())


# Babel takes 20-30 µs to format a date or a time: a staff order list spent an eighth
# of its CPU on its dates. The text of a day depends only on the day, the format and the
# locale; the short time only on the hour and minute; so both are kept per process (a few
# thousand short strings at most), and only the move to shop time is done per value, by the
# clock's utc_to_local (STOREFRONT_TIMEZONE, the zone Flask-Babel's selector names, through
# zoneinfo: a tenth of the cost of Flask-Babel's to_user_timezone).

@functools.lru_cache(maxsize=4096)
def _local_date(day: date, format: str, locale: str) -> str:
    # Flask-Babel's BABEL_DATE_FORMATS are not configured here: a named format is the
    # locale's and anything else a Babel pattern, as Flask-Babel would pass them on.
    return babel_dates.format_date(day, format, locale=locale)


@functools.lru_cache(maxsize=8192)
def _short_time(hour: int, minute: int, locale: str) -> str:
    return babel_dates.format_time(time(hour, minute), "short", locale=locale)


@functools.lru_cache(maxsize=32)
def _time_is_minutes_only(locale: str) -> bool:
    """The locale's short time shows no seconds and no zone (true of every locale the shop
    speaks; a pattern that did would be formatted from the moment itself)."""
    pattern = Locale.parse(locale).time_formats["short"].pattern
    return not set(pattern) & set("sSAzZOvVXx")


@functools.lru_cache(maxsize=32)
def _date_time_pattern(locale: str) -> str:
    pattern = Locale.parse(locale).datetime_formats.get("medium", "{1} {0}")
    return getattr(pattern, "pattern", pattern)


def short_day(value: date) -> str:
    """Month and day only, for chart axes: "Dec 2", "12月2日", "2 thg 12"."""
    return format_skeleton("MMMd", value, locale=babel_locale_name())


# Language switcher ------------------------------------------------------------

language_bp = Blueprint("language", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//evil``) is followed back."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            # A ``?lang=`` left in the address would switch straight back.
            query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"])
            return parts.path + ("?" + query if query else "")
    return url_for("catalog.home") if "catalog.home" in current_app.view_functions else "/"


@language_bp.post("/")
def set_language():
    """The footer switcher for signed-in users: remembered in the session and
    on the account, so it follows the user to another device.

    A POST (with CSRF, checked by the app's CSRFProtect) because it writes to
    the database; anonymous visitors use ``?lang=`` links (session only).
    """
    from flask_login import current_user

    from .database import write_transaction

    lang = request.form.get("lang", "")
    if lang not in current_app.config["STOREFRONT_LOCALES"]:
        abort(400)
    session["locale"] = lang
    if getattr(current_user, "is_authenticated", False) and current_user.locale != lang:
        with write_transaction():
            current_user.locale = lang
    return redirect(_safe_next(request.form.get("next")), 303)

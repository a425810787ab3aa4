"""Translation completeness: every string in the sources is in the catalogs and translated.

These tests fail, listing the offending entries, whenever someone adds or
changes a user-facing string without updating the catalogs (see
docs/translations.md for the two commands and the translation pass).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from storefront.i18n import TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ["zh_Hans", "vi"]
# The same keywords as the documented ``pybabel extract -k _l -k lazy_gettext``.
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "ugettext": None, "ungettext": (1, 2),
            "dgettext": (2,), "dngettext": (2, 3), "N_": None, "pgettext": ((1, "c"), 2),
            "npgettext": ((1, "c"), 2, 3), "_l": None, "lazy_gettext": None}


def _msgid(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _source_msgids() -> set[str]:
    """Run the extraction of ``babel.cfg`` from the project root in memory: what
    the documented ``pybabel extract -F babel.cfg ... .`` puts into the .pot
    (like pybabel, directories starting with "." or "_" such as .venv are skipped)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, KEYWORDS, strip_comment_tags=True):
        ids.add(message if isinstance(message, str) else message[0])
    return {i for i in ids if i}


def _catalog(path: Path, locale: str | None = None):
    with open(path, "rb") as fh:
        return read_po(fh, locale=locale)


@pytest.fixture(scope="module")
def source_ids():
    return _source_msgids()


def test_extraction_finds_the_known_strings(source_ids):
    # The extraction itself works: otherwise the other tests prove nothing.
    assert {"Awaiting payment", "Skip to content", "It will ship soon.", "Sales per day"} <= source_ids


def test_template_is_up_to_date_with_the_sources(source_ids):
    """``messages.pot`` has every msgid of the sources (re-run ``pybabel extract``)."""
    template = {_msgid(m) for m in _catalog(TRANSLATIONS_DIR / "messages.pot") if m.id}
    missing = sorted(source_ids - template)
    assert not missing, f"{len(missing)} strings missing from messages.pot: {missing[:50]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_every_source_string(locale, source_ids):
    """Each ``.po`` knows every string (re-run ``pybabel update``)."""
    catalog = {_msgid(m) for m in _catalog(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
               if m.id}
    missing = sorted(source_ids - catalog)
    assert not missing, f"{len(missing)} strings missing from {locale}: {missing[:50]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_entry_is_translated_and_not_fuzzy(locale):
    catalog = _catalog(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        if message.fuzzy:
            problems.append(f"fuzzy: {_msgid(message)!r}")
        elif not all(strings):
            problems.append(f"untranslated: {_msgid(message)!r}")
    assert not problems, f"{len(problems)} entries in {locale}:\n" + "\n".join(problems)

"""No page reads a file once the process is warm (issue 9: what a process can keep, it keeps).

Flask-WTF read and parsed WTForms' message catalogue on every request that
built a form, a twentieth of the checkout page's CPU (performance history,
seventeenth round). Such a cost hides in a profile's library frames; here it
shows as a file opened while serving a page. The walk runs twice: the first
compiles templates, loads catalogs and imports what is imported lazily; in the
second, no request may open a file. Python's audit hook sees every ``open()``
(``builtins.open``, ``io.open``, ``os.open``), so a library cannot slip past it;
SQLite's own file access is C and not an ``open`` event.
"""
from __future__ import annotations

import sys

from .pages import walk

_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open":
        _opened.append(str(args[0]))


_installed = False


def _listen() -> None:
    global _installed
    if not _installed:  # an audit hook stays for the life of the process: add one, switch it
        sys.addaudithook(_audit)
        _installed = True


def test_a_warm_process_serves_every_page_without_opening_a_file(app, crowded_world):
    global _opened
    first = sum(1 for _ in walk(app, crowded_world))
    _listen()
    problems, visits = [], 0
    _opened = []
    try:
        for visit in walk(app, crowded_world):
            visits += 1
            if _opened:
                problems.append(f"{visit.label} GET {visit.url} ({visit.endpoint}) opened {sorted(set(_opened))[:5]}")
            _opened.clear()
    finally:
        _opened = None
    assert first > 100 and visits > 100, "the walk found too few pages: is the world broken?"
    assert not problems, "\n".join(problems)


def test_the_hook_sees_a_file_opened(tmp_path):
    """The check itself works: otherwise the walk above proves nothing (it did fail, listing
    the sign-in page and WTForms' ``wtforms.mo``, with Flask-WTF's own translations)."""
    global _opened
    _listen()
    target = tmp_path / "catalogue.mo"
    target.write_bytes(b"")
    _opened = []
    try:
        with open(target, "rb"):
            pass
        seen = list(_opened)
    finally:
        _opened = None
    assert str(target) in seen

"""No page reads a file or compiles code once the process is warm (issue 9: what a process
can keep, it keeps).

Flask-WTF read and parsed WTForms' message catalogue on every request that
built a form, a twentieth of the checkout page's CPU (performance history,
seventeenth round). Such a cost hides in a profile's library frames; here it
shows as a file opened while serving a page. The walk runs twice: the first
compiles templates, loads catalogs and imports what is imported lazily; in the
second, no request may open a file, nor compile source code (a template built
from a string, a generated function). Python's audit hook sees every
``open()`` (``builtins.open``, ``io.open``, ``os.open``) and every ``compile``
and ``exec``, so a library cannot slip past it; SQLite's own file access is C
and not an ``open`` event.
"""
from __future__ import annotations

import sys

from .pages import walk

_WATCHED = frozenset({"open", "compile", "exec"})
_seen: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _seen is not None and event in _WATCHED:
        _seen.append(f"{event} {str(args[0])[:80]!r}" if event != "open" else str(args[0]))


_installed = False


def _listen() -> None:
    global _installed
    if not _installed:  # an audit hook stays for the life of the process: add one, switch it
        sys.addaudithook(_audit)
        _installed = True


def test_a_warm_process_serves_every_page_without_opening_a_file_or_compiling(app, crowded_world):
    global _seen
    first = sum(1 for _ in walk(app, crowded_world))
    _listen()
    problems, visits = [], 0
    _seen = []
    try:
        for visit in walk(app, crowded_world):
            visits += 1
            if _seen:
                problems.append(f"{visit.label} GET {visit.url} ({visit.endpoint}) opened or compiled {sorted(set(_seen))[:5]}")
            _seen.clear()
    finally:
        _seen = None
    assert first > 100 and visits > 100, "the walk found too few pages: is the world broken?"
    assert not problems, "\n".join(problems)


def test_the_hook_sees_a_file_opened_and_code_compiled(tmp_path):
    """The check itself works: otherwise the walk above proves nothing (it did fail, listing
    the sign-in page and WTForms' ``wtforms.mo``, with Flask-WTF's own translations)."""
    global _seen
    _listen()
    target = tmp_path / "catalogue.mo"
    target.write_bytes(b"")
    _seen = []
    try:
        with open(target, "rb"):
            pass
        from jinja2 import Template

        Template("{{ 1 + 1 }}")
        seen = list(_seen)
    finally:
        _seen = None
    assert str(target) in seen
    assert any(entry.startswith("compile") for entry in seen)

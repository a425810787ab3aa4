"""Stored-XSS tooling: write payloads into every free-text column, and find
executable markup in a rendered page."""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from sqlalchemy import JSON, Enum, String, Text, inspect, select

from storefront.extensions import db


# Text columns for stored-XSS seeding ---------------------------------------------

# Columns that are identifiers the app routes or looks up by, or codes from a
# fixed list: a payload there would only break the page before it renders.
STRUCTURAL = re.compile(
    r"(^|_)(slug|number|reference|token|hash|key|currency|locale|status|kind|provider|filename|"
    r"idempotency|session|source|action|object_type|object_id|event|state|type|code_hash|secret|"
    r"delivery_code|password)($|_)")


def _unique_columns(table) -> set[str]:
    names = {c.name for c in table.c if c.unique}
    for constraint in table.constraints:
        if constraint.__class__.__name__ == "UniqueConstraint":
            names.update(c.name for c in constraint.columns)
    for index in table.indexes:
        if index.unique:
            names.update(c.name for c in index.columns)
    return names


def text_columns(table):
    unique = _unique_columns(table)
    for col in table.c:
        if col.primary_key or col.foreign_keys or col.name in unique:
            continue
        if isinstance(col.type, (Enum, JSON)) or not isinstance(col.type, (String, Text)):
            continue
        if STRUCTURAL.search(col.name):
            continue
        yield col


def seed_text(payloads: list[str]) -> int:
    """Write a payload into every free-text column of every row; returns cells written."""
    written = 0
    existing = set(inspect(db.engine).get_table_names())
    for table in db.metadata.sorted_tables:
        if table.name not in existing or not table.primary_key.columns:
            continue
        cols = list(text_columns(table))
        if not cols:
            continue
        pk = list(table.primary_key.columns)
        rows = db.session.execute(select(*pk)).all()
        for n, row in enumerate(rows):
            values = {}
            for m, col in enumerate(cols):
                payload = payloads[(n + m) % len(payloads)]
                if col.name == "email" or col.name.endswith("_email"):
                    payload = f"<svg/onload=alert(xss{n})>@x.example"
                length = getattr(col.type, "length", None)
                if length and len(payload) > length:
                    payload = _short_payload(length)
                    if payload is None:
                        continue
                values[col.name] = payload
            if values:
                db.session.execute(table.update().where(*[c == v for c, v in zip(pk, row)]).values(**values))
                written += len(values)
    db.session.commit()
    return written


SHORT = ["<svg onload=xss7>", "<b onclick=xss7>", "'\"><i onmouseover=xss7>", "<script>xss7", "<xss7>"]


def _short_payload(length: int) -> str | None:
    fitting = [p for p in SHORT if len(p) <= length]
    return fitting[0] if fitting else None


# Executable-markup detector ------------------------------------------------------

EXECUTABLE_SCRIPT_TYPES = {"", "text/javascript", "application/javascript", "module", "text/ecmascript"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcdoc"}


@dataclass
class Finding:
    what: str
    detail: str


class _Detector(HTMLParser):
    def __init__(self, marker: str):
        super().__init__(convert_charrefs=True)
        self.marker = marker
        self.findings: list[Finding] = []
        self._script_type: str | None = None
        self._script_has_src = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.findings.append(Finding("event handler attribute", f"<{tag} {name}={value[:60]!r}>"))
            if name in URL_ATTRS:
                squashed = re.sub(r"[\x00-\x20]", "", value).lower()
                if squashed.startswith(("javascript:", "vbscript:", "data:text/html")):
                    self.findings.append(Finding("script URL", f"<{tag} {name}={value[:60]!r}>"))
        if self.marker in tag or any(self.marker in (n or "") for n, _v in attrs):
            self.findings.append(Finding("payload element", f"<{tag} {attrs!r}>"[:120]))
        if tag in ("iframe", "object", "embed", "base", "meta") and any(self.marker in (v or "") for _n, v in attrs):
            self.findings.append(Finding("payload element", f"<{tag} {attrs!r}>"[:120]))
        if tag == "script":
            attributes = dict(attrs)
            self._script_type = (attributes.get("type") or "").strip().lower()
            self._script_has_src = "src" in attributes
            src = attributes.get("src") or ""
            if src and not src.startswith("/"):
                self.findings.append(Finding("foreign script", src[:120]))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_type = None

    def handle_data(self, data):
        if self._script_type is not None and self._script_type in EXECUTABLE_SCRIPT_TYPES:
            if self.marker in data or "alert(" in data:
                self.findings.append(Finding("inline script with payload", data[:120]))


def executable_markup(html: str, marker: str = "xss") -> list[Finding]:
    detector = _Detector(marker)
    detector.feed(html)
    detector.close()
    return detector.findings

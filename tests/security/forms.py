"""Forms found on a page (to submit them as a user would) and the smallest
API body an operation's schema accepts (so validation does not answer before
the access check)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser


# Forms on a page -------------------------------------------------------------------

@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # free-text inputs and textareas
    kinds: dict[str, str] = field(default_factory=dict)  # name -> input type, "select" or "textarea"
    options: dict[str, list[str]] = field(default_factory=dict)  # every value a select, box or radio offers


class _FormParser(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            action = a.get("action") or self.page_url
            self._form = Form(action=action.split("#")[0], method=(a.get("method") or "get").lower())
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        if tag == "option" and self._select:  # an option has no name: it belongs to the open select
            form.options.setdefault(self._select, []).append(a.get("value", ""))
            values = form.fields[self._select]
            if "selected" in a or not values:
                if "selected" in a:
                    values.clear()
                values.append(a.get("value", ""))
            return
        if not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            form.kinds.setdefault(name, kind)
            if kind == "file":
                form.files.append(name)
            elif kind in ("checkbox", "radio"):
                form.options.setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    form.fields.setdefault(name, []).append(a.get("value", "on"))
                else:
                    form.fields.setdefault(name, [])
            elif kind not in ("submit", "button", "image", "reset"):
                form.fields.setdefault(name, []).append(a.get("value", ""))
                if kind in ("text", "search", "url") and name not in form.texts:
                    form.texts.append(name)
        elif tag == "select":
            self._select = name
            form.kinds.setdefault(name, "select")
            form.fields.setdefault(name, [])
        elif tag == "textarea":
            form.kinds.setdefault(name, "textarea")
            self._textarea = name
            form.fields.setdefault(name, []).append("")
            form.texts.append(name)

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form.fields[self._textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_on(html: str, page_url: str) -> list[Form]:
    parser = _FormParser(page_url)
    parser.feed(html)
    return parser.forms


def post_forms(html: str, page_url: str) -> list[Form]:
    return [f for f in forms_on(html, page_url) if f.method == "post"]



# Minimal valid API bodies, from the OpenAPI document ---------------------------------

def openapi_path(app, rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>()]+)(?:\([^)]*\))?>", r"{\1}", rule.rule)


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def _example(spec: dict, schema: dict, depth: int = 0):
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {name: _example(spec, sub, depth + 1) for name, sub in (schema.get("properties") or {}).items()
                if name in (schema.get("required") or []) and not sub.get("readOnly")}
    if kind == "array":
        return [_example(spec, schema.get("items") or {}, depth + 1)] if schema.get("minItems") else []
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if schema.get("format") == "email":
        return "someone@example.com"
    if schema.get("format") == "date-time":
        return "2030-01-01T00:00:00"
    if schema.get("format") == "date":
        return "2030-01-01"
    return "x" * max(1, int(schema.get("minLength", 1)))


def minimal_body(app, spec: dict, rule, method: str) -> dict:
    """The smallest body the operation's schema accepts (required fields only)."""
    operation = (spec.get("paths", {}).get(openapi_path(app, rule)) or {}).get(method.lower()) or {}
    content = (operation.get("requestBody") or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    return _example(spec, schema) if schema else {}

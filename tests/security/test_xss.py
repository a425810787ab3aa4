"""(e) Stored XSS: hostile text in every field a buyer or a seller can fill,
then every page rendered for a buyer, the owner and a guest, parsed: no
script from the payload, no ``on*=`` attribute, no ``javascript:`` URL.

Two ways in, both generic:
* typed through every form the shop shows (the real input path, with its
  validation and sanitising);
* written straight into every free-text column of every table, and every
  string setting: whatever a future input path lets through, the output
  side must still escape it (defence in depth).
"""
from __future__ import annotations

from sqlalchemy import select

from storefront.extensions import db
from storefront.settings import all_settings, set_settings
from storefront.settings_models import PluginState

from .conftest import new_client, signed_in
from .test_access import url_values
from .test_mass_assignment import _collect_forms, _fresh, _restore_plugins
from .markup import executable_markup, seed_text
from .walker import fill, is_api, rules

PAYLOADS = [
    "<script>alert('xss1')</script>",
    "<img src=x onerror=alert('xss2')>",
    "\"><svg/onload=alert('xss3')>",
    "'><iframe src=javascript:alert('xss4')></iframe>",
    "javascript:alert('xss5')",
    "</textarea><script>alert('xss6')</script>",
    "</title></script><script>alert('xss7')</script>",
    "xss{{7*7}}<a href=\"javascript:alert('xss8')\">x</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('xss9')>",
    "<a href=\"&#106;avascript:alert('xss10')\">x</a>",
]


def plausible(name: str) -> str:
    """A valid-looking value for an empty field, guessed from its name."""
    name = name.lower()
    for hint, value in (("email", "someone@example.com"), ("phone", "13800000000"), ("postcode", "200000"),
                        ("price", "10.00"), ("stock", "5"), ("quantity", "1"), ("amount", "1.00"),
                        ("percent", "10"), ("days", "3"), ("hours", "3"), ("minutes", "30"), ("limit", "5"),
                        ("code", "SAFE2026"), ("url", "https://example.com/x"), ("password", "long enough pw 1"),
                        ("date", "2030-01-01"), ("at", "2030-01-01T10:00"), ("position", "1"), ("threshold", "1")):
        if hint in name:
            return value
    return "Plain text"


def render_everything(app, world) -> list[str]:
    """Every GET page for a guest, the buyer and the owner; the findings as text."""
    problems = []
    viewers = {"guest": None, "buyer": world.buyer.id, "owner": world.owner.id}
    for who, user_id in viewers.items():
        client = new_client(app) if user_id is None else signed_in(app, _fresh(user_id))
        pages = 0
        for rule in rules(app):
            if is_api(app, rule) or "GET" not in rule.methods or rule.endpoint.endswith("static") \
                    or rule.endpoint == "catalog.image":
                continue
            url = fill(rule, url_values(app, rule, world, owned=world.values))
            r = client.get(url)
            body = r.get_data(as_text=True)
            r.close()
            if "html" not in r.content_type:
                continue
            pages += r.status_code == 200
            if "xss49" in body:
                problems.append(f"{who} {url}: template injection ({{{{7*7}}}} evaluated)")
            for finding in executable_markup(body):
                problems.append(f"{who} {url}: {finding.what}: {finding.detail}")
        assert pages >= 5, f"{who} saw only {pages} pages"
    return problems


def test_payloads_typed_into_every_form_render_inert(app, world):
    people = {"buyer": world.buyer.id, "owner": world.owner.id, "guest": None}
    typed = 0
    for who, user_id in people.items():
        client = new_client(app) if user_id is None else signed_in(app, _fresh(user_id))
        for n, (action, form) in enumerate(sorted(_collect_forms(app, world, who, client).items())):
            if not form.texts or action.rstrip("/").endswith(("/logout", "/logout-everywhere")):
                continue
            base = {name: (values or [plausible(name)]) if values != [""] else [plausible(name)]
                    for name, values in form.fields.items()}
            # One field at a time: the others keep valid values, so the
            # payload is not refused because a neighbouring field was.
            for m, name in enumerate(form.texts):
                client = new_client(app) if user_id is None else signed_in(app, _fresh(user_id))
                r = client.post(action, data={**base, name: PAYLOADS[(n + m) % len(PAYLOADS)]})
                typed += r.status_code in (302, 303)
                _restore_plugins()
    assert typed >= 5, "too few payload submissions were accepted: the check proves little"
    problems = render_everything(app, world)
    assert not problems, "\n".join(problems)


def test_payloads_stored_in_every_text_column_render_inert(app, world):
    cells = seed_text(PAYLOADS)
    assert cells > 100
    settings = {key: ("javascript:alert('xss5')" if key.startswith("social_") else PAYLOADS[n % len(PAYLOADS)])
                for n, (key, value) in enumerate(all_settings().items()) if isinstance(value, str)}
    set_settings(settings)
    for n, state in enumerate(db.session.execute(select(PluginState)).scalars()):
        state.settings = {k: (PAYLOADS[n % len(PAYLOADS)] if isinstance(v, str) and len(v) > 3 else v)
                          for k, v in (state.settings or {}).items()}
    db.session.commit()
    problems = render_everything(app, world)
    assert not problems, "\n".join(problems)

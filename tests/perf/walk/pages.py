"""Walk the shop as its visitors do: every GET route of ``app.url_map`` (pages and API, core
and plugins, a route added later included) as the role that may read it -- an order's pages
for an order in each status, an API list once per query parameter its OpenAPI operation
declares -- then every differently-shaped query-string link and GET form those pages showed
(filters, search, tabs, the next page of a list), as the role that saw it. Each request comes back with the SQL
statements it sent, with their parameters."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date
from html import unescape
from typing import Iterator
from urllib.parse import parse_qsl, urlencode

import pytest
from storefront.extensions import db
from tests.perf.conftest import Sent, count_queries
from tests.security.conftest import new_client, signed_in
from tests.security.forms import forms_on, openapi_path
from tests.security.test_access import api_spec, url_values
from tests.security.walker import PUBLIC_ENDPOINTS, fill, is_admin, is_api, rules

# Files, not pages: nothing of the shop's data is read.
SKIPPED = {"static", "catalog.image", "api-docs.openapi_json"}


@dataclass
class Visit:
    label: str            # owner, buyer or anonymous
    endpoint: str
    url: str
    status: int
    statements: list[Sent]  # BEGIN included
    html: str | None = None  # an HTML page's text
    again: object = None     # the same request once more: () -> (status, body text)


def _who(app, rule, world, extra: dict) -> list[tuple[str, object, dict]]:
    """(label, client, headers) of each role that may read ``rule``."""
    if is_admin(app, rule, "GET"):
        roles = [("owner", world.owner)]
    elif rule.endpoint in PUBLIC_ENDPOINTS:
        roles = [("anonymous", None), ("buyer", world.buyer)]
    else:
        roles = [("buyer", world.buyer)]
    out = []
    for label, user in roles:
        if is_api(app, rule):
            out.append((label, new_client(app), {**extra, **(world.tokens[label] if user is not None else {})}))
        else:
            out.append((label, signed_in(app, user) if user is not None else new_client(app), dict(extra)))
    return out


def _links(html: str) -> list[str]:
    """Same-site links that carry a query string."""
    return [unescape(h) for h in re.findall(r'href="(/[^"#]*\?[^"#]*)"', html)]


def _filled_get_forms(html: str, page: str) -> list[str]:
    """The page's ``<form method="get">``, each filled as a visitor narrowing a list would:
    every select on its first real option, every box ticked, a date, a number, a word."""
    urls = []
    for form in forms_on(html, page):
        if form.method != "get" or not form.action.startswith("/"):
            continue
        fields = {name: value for name, kind in form.kinds.items()
                  if (value := _field_value(kind, form.fields.get(name) or [""], form.options.get(name) or []))
                  is not None}
        if fields:
            urls.append(f"{form.action.partition('?')[0]}?{urlencode(fields)}")
    return urls


def _field_value(kind: str, values: list[str], options: list[str]) -> str | None:
    if kind == "select":
        return next((o for o in options if o), None)
    if kind in ("checkbox", "radio"):
        return options[0] if options else "y"
    if kind in ("submit", "button", "image", "reset", "file"):
        return None
    fixed = {"date": date.today().isoformat(), "number": "1", "hidden": values[0]}
    return fixed.get(kind, values[0] or "a")


def _visit(client, url: str, headers: dict, label: str, endpoint: str) -> Visit:
    def get():
        response = client.get(url, headers=headers)
        body = response.get_data()  # a streamed export reads the database while it is sent
        response.close()
        return response, body

    with count_queries() as seen:
        response, body = get()
    html = body.decode() if response.status_code == 200 and response.mimetype == "text/html" else None

    def again():
        response, body = get()
        return response.status_code, body.decode(errors="replace")

    return Visit(label, endpoint, url, response.status_code, seen.sent, html, again)


def _real_objects(world) -> dict[str, object]:
    """Objects worth a look where the attack suite's values name nothing (a product slug "x"):
    a product on presale, a category, one of the buyer's after-sales requests with its
    evidence, a signed tracking link to one of the buyer's shipped orders, a SKU to buy now."""
    from sqlalchemy import select

    from plugins.aftersales.models import Case, Evidence
    from plugins.order_tracking.tracking import signed_token
    from plugins.presale.models import Campaign
    from storefront.catalog.models import Category, Product, Sku
    from storefront.orders.models import Order
    from storefront.orders.status import OrderStatus

    product = db.session.execute(select(Product).join(Campaign, Campaign.product_id == Product.id)
                                 .where(Product.active.is_(True)).limit(1)).scalar() or \
        db.session.execute(select(Product).where(Product.active.is_(True)).limit(1)).scalar()
    case = db.session.execute(select(Case).where(Case.user_id == world.buyer.id)
                              .order_by(Case.id.desc()).limit(1)).scalar()
    evidence = case and db.session.execute(select(Evidence.id).where(Evidence.case_id == case.id).limit(1)).scalar()
    shipped = db.session.execute(select(Order).where(Order.user_id == world.buyer.id,
                                                     Order.status == OrderStatus.SHIPPED).limit(1)).scalar()
    sku = db.session.execute(select(Sku.id).where(Sku.active.is_(True), Sku.stock > 0).limit(1)).scalar()
    # One of the buyer's orders in each status: each shows other panels (payment, parcels,
    # pickup, refunds, the after-sales button), where a per-row load could hide.
    by_status = {}
    for number, status in db.session.execute(select(Order.number, Order.status)
                                             .where(Order.user_id == world.buyer.id).order_by(Order.id.desc())):
        by_status.setdefault(status, number)
    return {"orders": sorted(set(by_status.values()) - {world.values["number"]}), "product": product.slug,
            "category": db.session.execute(select(Category.slug).limit(1)).scalar(),
            "case": case.number if case else None, "evidence": evidence or 1,
            "tracking": signed_token(shipped) if shipped else None,
            # Query strings a route needs before it answers at all.
            "queries": {"checkout.buy_now": f"?sku_id={sku}&quantity=1", "promo_popups_api.active": "?page=home"}}


def _url(app, rule, world, real: dict) -> str | None:
    values = url_values(app, rule, world, owned=world.values)
    if "slug" in rule.arguments:
        values["slug"] = real["category"] if "category" in rule.endpoint else real["product"]
    if rule.endpoint.startswith("aftersales") and "number" in rule.arguments and real["case"]:
        values["number"] = real["case"]
        values["evidence_id"] = real["evidence"]
    if rule.endpoint.startswith("order_tracking") and "token" in rule.arguments and real["tracking"]:
        values["token"] = real["tracking"]
    url = fill(rule, values)
    return url and url + real["queries"].get(rule.endpoint, "")


def _query_value(name: str, schema: dict) -> str | None:
    """A value for an API query parameter, as a client narrowing a list would send."""
    if schema.get("enum"):
        return str(schema["enum"][0])
    kind = schema.get("type")
    if kind == "boolean":
        return "true"
    if kind == "integer":
        return {"limit": "50", "days": "30", "after": None, "before": None}.get(name, "1")
    if name.startswith("date"):
        return date.today().isoformat()
    return date.today().isoformat()[:7] if name == "month" else "a"


def _api_query_urls(app, rule, url: str) -> list[str]:
    """``url`` once per query parameter its OpenAPI operation declares (filters, search, page size)."""
    operation = (api_spec(app)["paths"].get(openapi_path(app, rule)) or {}).get("get") or {}
    out = []
    for param in operation.get("parameters", []):
        if param.get("in") == "query":
            value = _query_value(param["name"], param.get("schema") or {})
            if value is not None:
                out.append(f"{url.partition('?')[0]}?{urlencode({param['name']: value})}")
    return out


def walk(app, world, extra_headers: dict | None = None) -> Iterator[Visit]:
    """Every visit, as it is made; ``extra_headers`` go with each request (a language, say)."""
    adapter = app.url_map.bind("localhost")
    real = _real_objects(world)
    to_follow: list[tuple] = []
    for rule in rules(app):
        if "GET" not in rule.methods or rule.endpoint in SKIPPED or rule.endpoint.endswith(".static"):
            continue
        url = _url(app, rule, world, real)
        assert url, f"cannot fill {rule.rule}"
        urls = [url]
        if "number" in rule.arguments and not rule.endpoint.startswith("aftersales"):  # an order's page
            urls += [fill(rule, {**url_values(app, rule, world, owned=world.values), "number": n})
                     for n in real["orders"]]
        if is_api(app, rule):
            urls += _api_query_urls(app, rule, url)
        for label, client, headers in _who(app, rule, world, extra_headers or {}):
            for url in urls:
                visit = _visit(client, url, headers, label, rule.endpoint)
                yield visit
                if visit.html is not None:
                    to_follow += [(label, client, headers, link)
                                  for link in _links(visit.html) + _filled_get_forms(visit.html, url)]
    shapes: set[tuple] = set()
    for label, client, headers, link in to_follow:
        path, _, query = link.partition("?")
        try:
            endpoint, _args = adapter.match(path, method="GET")
        except Exception:  # a link to a route that answers only POST, or none
            continue
        shape = (label, endpoint, tuple(sorted({k for k, v in parse_qsl(query, keep_blank_values=True) if v})))
        if endpoint in SKIPPED or endpoint.endswith(".static") or shape in shapes:
            continue
        shapes.add(shape)
        yield _visit(client, link, headers, label, endpoint)


# What is new on every request, and so differs between two answers to the same one.
_VARYING = (
    (re.compile(r'(name="csrf_token"[^>]*value=")[^"]*"'), r'\1…"'),  # CSRF tokens, signed per second
    (re.compile(r"\b[0-9a-f]{24}(?:[0-9a-f]{8})?\b"), "…"),  # idempotency keys
    (re.compile(r"\bchart-[0-9a-f]{8}\b"), "chart-…"),  # a chart's aria ids
)


def comparable(html: str) -> str:
    for pattern, replacement in _VARYING:
        html = pattern.sub(replacement, html)
    return html


def pages_read_differently(app, world, switch, labels: tuple[str, str], *, extra_headers: dict | None = None,
                           ask_again_first: bool = False) -> tuple[int, list[str]]:
    """Walk every page; ask each HTML page again with ``switch(patch)`` in force (``patch`` a
    ``pytest.MonkeyPatch``, undone after the request) and compare the text with the walk's
    answer (with ``ask_again_first``, with a second answer asked before switching). Returns
    the pages compared and, for each that read differently, its diff (``labels``: the
    switched answer's, the other's)."""
    pages, problems = 0, []
    for visit in walk(app, world, extra_headers):
        if visit.html is None:
            continue
        pages += 1
        status, before = visit.again() if ask_again_first else (visit.status, visit.html)
        with pytest.MonkeyPatch.context() as patch:
            switch(patch)
            status_switched, switched = visit.again()
        if status_switched != status or comparable(switched) != comparable(before):
            diff = difflib.unified_diff(comparable(switched).splitlines(), comparable(before).splitlines(),
                                        *labels, n=0, lineterm="")
            problems.append(f"{visit.label} GET {visit.url} ({visit.endpoint}): {status}/{status_switched}\n"
                            + "\n".join(line[:300] for line in list(diff)[:12]))
    return pages, problems

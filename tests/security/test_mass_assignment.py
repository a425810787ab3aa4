"""(d) Mass assignment: every form the shop shows, and every API body, sent
with extra fields (price, total, status, role, user_id, paid/refunded totals,
is_staff...) that the form does not have. The request may succeed or fail;
what it must never do is write one of those values.

The check is by value: after each request, no row may have *changed to* (or
been created with) the planted value in the column of that name. The planted
values are ones no legitimate action produces (a price of 7 fen, a victim
user who owns nothing).
"""
from __future__ import annotations

from sqlalchemy import select

from storefront.accounts.models import User
from storefront.extensions import db
from tests.factories import make_user, set_plugin_state

from .conftest import ALL_PLUGINS, new_client, signed_in
from .test_access import api_spec, url_values
from .forms import minimal_body, post_forms
from .walker import WRITE_METHODS, fill, is_api, methods_of, rules, snapshot_columns

MONEY_FIELDS = ("price", "unit_price", "compare_at_price", "total", "subtotal", "paid_total", "refunded_total",
                "paid_amount", "refunded_amount", "amount", "discount_total", "shipping_total", "line_subtotal",
                "discount")

# Endpoints whose purpose is to move an order to the planted status.
LEGIT_STATUS = {"orders.confirm", "api_orders.confirm_order"}


def extras(victim_id: int) -> dict:
    fields = {name: "7" for name in MONEY_FIELDS}
    fields.update(role="owner", is_staff="1", user_id=str(victim_id), status="completed", owner_id=str(victim_id),
                  buyer_id=str(victim_id), actor_id=str(victim_id))
    return fields


def planted_writes(before, after, planted: dict, endpoint: str) -> list[str]:
    found = []
    for (table, column), rows in after.items():
        if column not in planted or (column == "status" and endpoint in LEGIT_STATUS):
            continue
        old = before.get((table, column), {})
        for pk, value in rows.items():
            if pk in old and old[pk] == value:
                continue
            if value is not None and str(getattr(value, "value", value)) == str(planted[column]):
                found.append(f"{table}.{column}={value!r} (row {pk})")
    return found


def _fresh(user_id: int) -> User:
    db.session.rollback()
    return db.session.get(User, user_id)


def _collect_forms(app, world, who: str, client):
    """Every POST form on every page this user can open: {action: Form}."""
    forms = {}
    for rule in rules(app):
        if is_api(app, rule) or "GET" not in rule.methods or rule.endpoint in ("static", "catalog.image") \
                or rule.endpoint.endswith(".static"):
            continue
        url = fill(rule, url_values(app, rule, world, owned=world.values))
        r = client.get(url)
        r.get_data()
        r.close()  # a streamed download keeps its contexts until closed
        if r.status_code != 200 or "html" not in r.content_type:
            continue
        for form in post_forms(r.get_data(as_text=True), url):
            forms.setdefault(form.action, form)
    return forms


def test_forms_ignore_fields_they_do_not_have(app, world):
    victim = make_user(name="Victim")
    planted = extras(victim.id)
    names = set(planted)
    product_page = new_client(app).get("/products")
    assert product_page.status_code == 200
    sku = db.session.execute(select(db.metadata.tables["skus"].c.id).where(
        db.metadata.tables["skus"].c.stock > 5).limit(1)).scalar()
    people = {"anonymous": None, "buyer": world.buyer.id, "owner": world.owner.id}
    problems, submitted, accepted = [], 0, 0
    for who, user_id in people.items():
        client = new_client(app) if user_id is None else signed_in(app, _fresh(user_id))
        client.post("/cart/add", data={"sku_id": sku, "quantity": 1})
        for action, form in sorted(_collect_forms(app, world, who, client).items()):
            if action.rstrip("/").endswith(("/logout", "/logout-everywhere")):
                continue  # ending the session is the point of these; they take no data
            client = new_client(app) if user_id is None else signed_in(app, _fresh(user_id))
            client.post("/cart/add", data={"sku_id": sku, "quantity": 1})
            data = {k: v for k, v in form.fields.items()}
            data.update({k: v for k, v in planted.items() if k not in form.fields})
            endpoint = _endpoint(app, action)
            before = snapshot_columns(names)
            r = client.post(action, data=data)
            after = snapshot_columns(names)
            submitted += 1
            accepted += r.status_code in (302, 303)
            if r.status_code >= 500:
                problems.append(f"{who} POST {action} -> {r.status_code}")
            for write in planted_writes(before, after, {k: v for k, v in planted.items() if k not in form.fields},
                                        endpoint):
                problems.append(f"{who} POST {action}: {write}")
            _restore_plugins()
    assert submitted > 40, submitted
    assert accepted > 10, "too few forms went through: the walk proves little"
    assert not problems, "\n".join(problems)


def test_api_bodies_ignore_fields_they_do_not_have(app, world):
    victim = make_user(name="Victim")
    planted = extras(victim.id)
    names = set(planted)
    spec = api_spec(app)
    problems, tried = [], 0
    for who in ("buyer", "owner", None):
        for rule in rules(app):
            if not is_api(app, rule):
                continue
            for method in methods_of(rule):
                if method not in WRITE_METHODS:
                    continue
                url = fill(rule, url_values(app, rule, world, owned=world.values))
                body = minimal_body(app, spec, rule, method)
                extra = {k: (int(v) if v.isdigit() else v) for k, v in planted.items() if k not in body}
                before = snapshot_columns(names)
                headers = world.tokens[who] if who else {}
                r = new_client(app).open(url, method=method, json={**body, **extra}, headers=headers)
                after = snapshot_columns(names)
                tried += 1
                if r.status_code >= 500:
                    problems.append(f"{who} {method} {url} -> {r.status_code}")
                for write in planted_writes(before, after, {k: v for k, v in planted.items() if k in extra},
                                            rule.endpoint):
                    problems.append(f"{who} {method} {url}: {write}")
                _restore_plugins()
    assert tried > 50
    assert not problems, "\n".join(problems)


def _endpoint(app, action: str) -> str:
    adapter = app.url_map.bind("localhost")
    try:
        return adapter.match(action.split("?")[0], method="POST")[0]
    except Exception:
        return ""


def _restore_plugins() -> None:
    """A submitted owner form may have switched a plugin off; switch it back."""
    from storefront.settings_models import PluginState

    db.session.rollback()
    off = [s.name for s in db.session.execute(select(PluginState)).scalars() if not s.enabled]
    for name in off:
        if any(m.endswith("." + name) for m in ALL_PLUGINS):
            set_plugin_state(name, True)

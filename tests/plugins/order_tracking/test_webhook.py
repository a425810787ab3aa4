"""The aggregator webhook: signature, replay window, idempotency, unknown parcels, fuzzing."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from plugins.order_tracking.models import ParcelEvent
from storefront.extensions import db
from storefront.orders.models import OrderEvent

from .conftest import enable, push, signed_headers
from .helpers import OrderStatus, reload, shipped_order

PATHS = ["/p/tracking/webhook", "/api/v1/tracking/webhook"]


def payload(**over):
    data = {"carrier": "sf", "tracking_number": "SF1234567890", "event_id": "evt-1",
            "time": "2026-01-02T03:04:05Z", "status": "in_transit", "location": "Shenzhen",
            "description": "Picked up"}
    data.update(over)
    return data


def _recent():
    from storefront.clock import utcnow

    return utcnow().replace(microsecond=0).isoformat() + "Z"


@pytest.fixture
def order(app, enabled, buyer, staff):
    return shipped_order(buyer, staff)


def _counts():
    db.session.rollback()
    return (db.session.query(ParcelEvent).count(),
            db.session.query(OrderEvent).filter_by(kind="parcel_delivered").count())


@pytest.mark.parametrize("path", PATHS)
def test_valid_push_is_stored_once(client, order, path):
    r = push(client, payload(time=_recent()), path=path)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json() == {"status": "created", "event_id": "evt-1"}
    r = push(client, payload(time=_recent()), path=path)
    assert r.status_code == 200 and r.get_json()["status"] == "duplicate"
    assert _counts() == (1, 0)
    ev = db.session.query(ParcelEvent).one()
    assert (ev.source, ev.external_id, ev.location) == ("webhook", "evt-1", "Shenzhen")


def test_delivered_push_adds_timeline_entry(client, order):
    r = push(client, payload(time=_recent(), status="delivered", event_id="evt-d"))
    assert r.status_code == 201
    r = push(client, payload(time=_recent(), status="delivered", event_id="evt-d2"))
    assert r.status_code == 201
    assert _counts() == (2, 1)
    assert reload(order).status == OrderStatus.SHIPPED


@pytest.mark.parametrize("headers_fn, code", [
    (lambda body: {**signed_headers(body, secret="wrong-secret-0123456789"), }, "bad_signature"),
    (lambda body: {**signed_headers(body), "X-Tracking-Signature": "sha256=00"}, "bad_signature"),
    (lambda body: {k: v for k, v in signed_headers(body).items() if k != "X-Tracking-Signature"}, "bad_signature"),
    (lambda body: {k: v for k, v in signed_headers(body).items() if k != "X-Tracking-Timestamp"}, "bad_timestamp"),
    (lambda body: signed_headers(body, timestamp=int(time.time()) - 330), "stale_timestamp"),
    (lambda body: signed_headers(body, timestamp=int(time.time()) + 330), "stale_timestamp"),
    (lambda body: {**signed_headers(body), "X-Tracking-Timestamp": "12ab"}, "bad_timestamp"),
])
def test_refused_without_side_effects(client, order, headers_fn, code):
    body = json.dumps(payload(time=_recent())).encode()
    r = client.post("/p/tracking/webhook", data=body, headers=headers_fn(body))
    assert r.status_code == 401 and r.get_json()["error"]["code"] == code
    assert _counts() == (0, 0)


def test_replayed_old_signature_is_refused(client, order):
    body = json.dumps(payload(time=_recent())).encode()
    old = signed_headers(body, timestamp=int(time.time()) - 600)
    r = client.post("/p/tracking/webhook", data=body, headers=old)
    assert r.get_json()["error"]["code"] == "stale_timestamp" and _counts() == (0, 0)


def test_body_changed_after_signing_is_refused(client, order):
    body = json.dumps(payload(time=_recent())).encode()
    headers = signed_headers(body)
    tampered = body.replace(b"in_transit", b"delivered")
    r = client.post("/p/tracking/webhook", data=tampered, headers=headers)
    assert r.status_code == 401 and _counts() == (0, 0)


def test_unknown_parcel_is_refused(client, order):
    r = push(client, payload(time=_recent(), tracking_number="NOPE0000"))
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "unknown_parcel"
    r = push(client, payload(time=_recent(), carrier="zto"))
    assert r.status_code == 404
    assert _counts() == (0, 0)


def test_no_secret_means_webhook_off(client, app, buyer, staff):
    enable(settings={"webhook_secret": ""})
    shipped_order(buyer, staff)
    r = push(client, payload(time=_recent()))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "webhook_disabled"
    assert _counts() == (0, 0)


def test_disabled_plugin_webhook_is_404(client, app, buyer, staff):
    enable(enabled=False)
    r = push(client, payload(time=_recent()))
    assert r.status_code == 404
    assert push(client, payload(time=_recent()), path="/api/v1/tracking/webhook").status_code == 404


BAD_BODIES = [
    b"", b"not json", b"[]", b"null", b"123", b'"str"', b"{", b"\xff\xfe\x00",
    json.dumps({"carrier": "sf"}).encode(),
    json.dumps(payload(status="teleported")).encode(),
    json.dumps(payload(status=None)).encode(),
    json.dumps(payload(time="yesterday")).encode(),
    json.dumps(payload(time="2026-01-02T03:04:05")).encode(),  # no offset
    json.dumps(payload(time="2999-01-01T00:00:00Z")).encode(),
    json.dumps(payload(time=12345)).encode(),
    json.dumps(payload(carrier=5)).encode(),
    json.dumps(payload(tracking_number=["x"])).encode(),
    json.dumps(payload(event_id={"a": 1})).encode(),
    json.dumps(payload(event_id="")).encode(),
    json.dumps(payload(event_id="x" * 101)).encode(),
    json.dumps(payload(location="x" * 10_000)).encode(),
    json.dumps(payload(description=7)).encode(),
    b"[" * 5000 + b"]" * 5000,
    b"x" * 20_000,
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_malformed_bodies_get_4xx(client, order, body):
    r = client.post("/p/tracking/webhook", data=body, headers=signed_headers(body))
    assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:200])
    assert "error" in r.get_json()
    assert _counts() == (0, 0)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.dictionaries(st.sampled_from(["carrier", "tracking_number", "event_id", "time", "status",
                                              "location", "description", "junk"]), json_values, max_size=7))
def test_fuzzed_payloads_never_500(client, order, extra):
    body = json.dumps(payload(**extra)).encode()
    r = client.post("/p/tracking/webhook", data=body, headers=signed_headers(body))
    assert r.status_code < 500, r.get_data(as_text=True)[:300]


def test_webhook_is_csrf_exempt(secure_client, order):
    r = push(secure_client, payload(time=_recent()))
    assert r.status_code == 201, r.get_data(as_text=True)[:200]


def test_oversized_body_refused_before_reading(client, order):
    body = json.dumps(payload(time=_recent(), description="x" * 20_000)).encode()
    r = client.post("/p/tracking/webhook", data=body, headers=signed_headers(body))
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "too_large"
    assert _counts() == (0, 0)


def test_concurrent_redelivery_stores_one_event(app, order):
    """Real threads push the same delivered event at once: one row, one timeline entry."""
    import threading

    from .conftest import new_client

    body = json.dumps(payload(time=_recent(), status="delivered", event_id="evt-race")).encode()
    barrier = threading.Barrier(4)
    codes = []

    def worker():
        with app.app_context():
            client = new_client(app)
            barrier.wait(timeout=120)
            codes.append(client.post("/p/tracking/webhook", data=body, headers=signed_headers(body)).status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [200, 200, 200, 201]
    assert _counts() == (1, 1)


def test_a_redelivered_or_unknown_event_takes_no_write_transaction(client, order):
    """Carriers push each event more than once: the duplicate, like an event for a parcel
    this shop does not have, is answered from plain reads. On SQLite a write transaction
    takes the database's one write lock, which buyers checking out wait for."""
    from tests.perf.conftest import no_write_transaction

    assert push(client, payload(time=_recent())).status_code == 201
    db.session.commit()
    with no_write_transaction():
        again = push(client, payload(time=_recent()))
        unknown = push(client, payload(time=_recent(), event_id="evt-2", tracking_number="NOPE0000"))
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "unknown_parcel"
    assert _counts() == (1, 0)


def test_a_delivery_notes_the_order_timeline_without_reading_the_order_under_the_lock(client, order):
    """A day after the sale, deliveries arrive by the thousand, each in a write transaction."""
    from tests.perf.conftest import ORDER_ROW, count_queries

    db.session.commit()
    with count_queries() as seen:
        r = push(client, payload(time=_recent(), status="delivered", event_id="evt-d"))
    assert r.status_code == 201
    locked = seen.inside_writes()
    assert locked.matching(r"^INSERT INTO order_events")
    assert not locked.matching(ORDER_ROW), locked
    db.session.rollback()
    entry = db.session.query(OrderEvent).filter_by(kind="parcel_delivered").one()
    assert entry.order_id == order.id and entry.data["tracking_number"] == "SF1234567890"

"""Buyer tracking page, guest lookup, signed links: who sees what (IDOR, enumeration, limits)."""
from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from plugins.order_tracking import services, tracking
from storefront.clock import utcnow
from storefront.extensions import db
from tests.factories import login, make_user

from .conftest import enable, new_client
from .helpers import OrderStatus, age_parcels, make_order, reload, shipped_order


@pytest.fixture
def order(app, enabled, buyer, staff):
    o = shipped_order(buyer, staff, ship_phone="139-0000-1234", ship_address="88 Huaihai Rd, Shanghai 200031")
    parcel = services.parcels_of(o.id)[0]
    services.add_event(parcel.id, staff, {"at": utcnow(), "status": "out_for_delivery", "location": "Xuhui"})
    return reload(o)


def test_buyer_sees_timeline_carrier_link_and_eta(client, order, buyer):
    login(client, buyer)
    r = client.get(f"/p/tracking/orders/{order.number}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    for text in ("Ordered", "Paid", "Shipped", "Out for delivery", "Delivered", "Completed", "SF Express",
                 order.tracking_number, "Xuhui", "Estimated delivery", "kept",
                 f"waybill-detail/{order.tracking_number}", 'class="ot-copy"'):
        assert text in html, text
    assert "<script>" not in html  # no inline script: the copy button is a static file
    assert "order_tracking.js" in html


def test_promise_broken_is_shown(client, app, enabled, buyer, staff):
    o = make_order(buyer, OrderStatus.PAID, ship_by=utcnow() - timedelta(hours=1))
    from storefront.orders.services import ship_order

    ship_order(o, staff, "SF Express", "SF55555")
    db.session.commit()
    view = tracking.tracking_view(reload(o))
    assert view.promise_kept is False
    login(client, buyer)
    assert "late" in client.get(f"/p/tracking/orders/{o.number}").get_data(as_text=True)


def test_other_buyer_gets_404_and_anonymous_is_sent_to_login(client, order):
    other = make_user()
    login(client, other)
    assert client.get(f"/p/tracking/orders/{order.number}").status_code == 404
    assert client.get("/p/tracking/orders/NOPE").status_code == 404
    anon = new_client(client.application)
    r = anon.get(f"/p/tracking/orders/{order.number}")
    assert r.status_code == 302 and "/account/login" in r.headers["Location"]


def test_staff_sees_any_order(client, order, staff):
    login(client, staff)
    assert client.get(f"/p/tracking/orders/{order.number}").status_code == 200


def test_order_page_slot_links_to_tracking(client, order, buyer):
    login(client, buyer)
    html = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert f"/p/tracking/orders/{order.number}" in html


def test_disabled_plugin_404_and_no_slot(client, order, buyer):
    enable(enabled=False)
    login(client, buyer)
    assert client.get(f"/p/tracking/orders/{order.number}").status_code == 404
    assert client.get("/p/tracking/lookup").status_code == 404
    assert "/p/tracking/" not in client.get(f"/orders/{order.number}").get_data(as_text=True)


def test_stuck_parcel_says_so(client, order, buyer):
    age_parcels(order.id, 10)
    login(client, buyer)
    assert "Where is my parcel?" in client.get(f"/p/tracking/orders/{order.number}").get_data(as_text=True)


def test_fresh_parcel_is_not_stuck(client, order, buyer):
    login(client, buyer)
    assert "Where is my parcel?" not in client.get(f"/p/tracking/orders/{order.number}").get_data(as_text=True)


def test_multi_parcel_order_shows_each(client, order, buyer, staff):
    services.add_parcel(order, staff, "zto", "ZT1000")
    login(client, buyer)
    html = client.get(f"/p/tracking/orders/{order.number}").get_data(as_text=True)
    assert "Parcel 2 of 2" in html and "ZT1000" in html


# -- guest lookup ------------------------------------------------------------------------
def _lookup(client, number, contact):
    return client.post("/p/tracking/lookup", data={"number": number, "contact": contact})


@pytest.mark.parametrize("contact", ["13900001234", "139 0000 1234", "+139-0000-1234"])
def test_guest_lookup_by_phone_masks_address(client, order, contact):
    r = _lookup(client, order.number, contact)
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html[:300]
    assert order.tracking_number in html and "Xuhui" in html
    assert "13900001234" not in html and "139****1234" in html
    assert "Huaihai" not in html and "88 Hua***" in html
    assert '<meta name="robots" content="noindex">' in html
    assert r.headers.getlist("Referrer-Policy") == ["no-referrer"]  # its own, not joined by the default
    assert "noindex" in r.headers["X-Robots-Tag"]


def test_guest_lookup_by_email_case_insensitive(client, order, buyer):
    r = _lookup(client, order.number, buyer.email.upper())
    assert r.status_code == 200 and order.tracking_number in r.get_data(as_text=True)


def test_wrong_contact_and_unknown_order_answer_the_same(client, order):
    wrong = _lookup(client, order.number, "13900009999")
    unknown = _lookup(client, "NOSUCHORDER", "13900009999")
    blank_guess = _lookup(client, order.number, "x@example.com")
    assert wrong.status_code == unknown.status_code == blank_guess.status_code == 404
    assert wrong.get_data() == unknown.get_data().replace(b"NOSUCHORDER", order.number.encode())
    assert order.tracking_number not in wrong.get_data(as_text=True)


def test_lookup_does_the_same_work_for_unknown_and_wrong(app, order):
    with mock.patch("plugins.order_tracking.tracking.hmac.compare_digest", wraps=__import__("hmac").compare_digest) as cmp:
        for number, contact in ((order.number, "1"), ("NOSUCH", "1")):
            cmp.reset_mock()
            with pytest.raises(Exception):
                tracking.guest_lookup(number, contact)
            assert cmp.call_count == 2


def test_empty_phone_on_order_never_matches_empty_contact(app, enabled):
    o = make_order(None, OrderStatus.SHIPPED, ship_phone="")
    with pytest.raises(Exception):
        tracking.guest_lookup(o.number, "---")


def test_lookup_form_errors(client, order):
    r = _lookup(client, "", "")
    assert r.status_code == 422 and "field-error" in r.get_data(as_text=True)


def test_lookup_needs_csrf(secure_client, order):
    assert _lookup(secure_client, order.number, "13900001234").status_code == 400


def test_rate_limit_per_ip(limited_client, order):
    codes = [_lookup(limited_client, f"GUESS{i}", "1").status_code for i in range(11)]
    assert codes[:10] == [404] * 10 and codes[10] == 429
    # The right answer is refused too while the limit holds.
    assert _lookup(limited_client, order.number, "13900001234").status_code == 429


def test_rate_limit_per_order_number_across_ips(app, _ot_limited_app, order):
    codes = [_lookup(new_client(_ot_limited_app), order.number, f"1390000{i:04d}").status_code for i in range(6)]
    assert codes[:5] == [404] * 5 and codes[5] == 429


# -- signed links ------------------------------------------------------------------------
def test_signed_link_opens_guest_page(client, order):
    with client.application.test_request_context():
        url = tracking.signed_tracking_url(order, external=False)
    r = client.get(url)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and order.tracking_number in html and "139****1234" in html
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_signed_link_tampered_or_expired(client, order):
    token = tracking.signed_token(order)
    assert client.get(f"/p/tracking/t/{token[:-2]}xx").status_code == 404
    other = make_order(None, OrderStatus.SHIPPED)
    assert client.get(f"/p/tracking/t/{token.replace('.', 'x', 1)}").status_code == 404
    with mock.patch("itsdangerous.timed.TimestampSigner.get_timestamp",
                    return_value=int(utcnow().timestamp()) - 31 * 86400):
        old = tracking.signed_token(other)
    r = client.get(f"/p/tracking/t/{old}")
    assert r.status_code == 404 and other.tracking_number not in r.get_data(as_text=True)
    with mock.patch("itsdangerous.timed.TimestampSigner.get_timestamp",
                    return_value=int(utcnow().timestamp()) - 29 * 86400):
        recent = tracking.signed_token(other)
    assert client.get(f"/p/tracking/t/{recent}").status_code == 200


def test_token_of_another_salt_is_refused(client, order):
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("test-secret-key", salt="other").dumps({"o": order.id, "n": order.number})
    assert client.get(f"/p/tracking/t/{forged}").status_code == 404


def test_wrong_contact_and_unknown_order_run_the_same_queries(app, order):
    from sqlalchemy import event

    def statements(number):
        seen = []

        def record(conn, cursor, statement, *args):
            seen.append(statement)

        db.session.rollback()
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            with pytest.raises(Exception):
                tracking.guest_lookup(number, "13900009999")
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return seen

    assert statements(order.number) == statements("NOSUCHORDER")


def test_eta_uses_carrier_transit_days_and_disappears_when_delivered(app, order, staff):
    from datetime import timezone
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(app.config.get("STOREFRONT_TIMEZONE") or "UTC")
    expected = (order.shipped_at + timedelta(days=2)).replace(tzinfo=timezone.utc).astimezone(tz).date()
    assert tracking.tracking_view(order).eta == expected  # SF Express: 2 days in the preset
    services.add_event(services.parcels_of(order.id)[0].id, staff, {"at": utcnow(), "status": "delivered"})
    view = tracking.tracking_view(reload(order))
    assert view.eta is None
    assert [s.key for s in view.steps if s.done][-1] == "delivered"


def test_shipped_notification_carries_a_working_signed_link(client, order):
    import re

    from storefront.notify.services import render_notification

    with client.application.test_request_context(base_url="http://shop.test"):
        _subject, body = render_notification(order, "order_shipped")
    match = re.search(r"http://shop\.test(/p/tracking/t/\S+)", body)
    assert match, body
    r = client.get(match.group(1))
    assert r.status_code == 200 and order.tracking_number in r.get_data(as_text=True)


def test_other_notifications_have_no_tracking_link(client, order):
    from storefront.notify.services import render_notification

    with client.application.test_request_context():
        _subject, body = render_notification(order, "order_paid")
    assert "/p/tracking/t/" not in body

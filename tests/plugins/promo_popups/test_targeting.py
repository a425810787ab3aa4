"""Which popup shows where: schedule, pages, audience, frequency caps, priority, cache."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from plugins.promo_popups import services
from plugins.promo_popups.models import Popup
from plugins.promo_popups.targeting import clear_cache
from storefront.clock import local_to_utc, shop_today, utc_to_local
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.orders.models import Order
from tests.factories import set_plugin_state

from .conftest import PAGES, make_popup, sign_in


def shown(client, page="home", **kwargs) -> str | None:
    html = client.get(PAGES[page], **kwargs).get_data(as_text=True)
    import re

    match = re.search(r'data-pp-popup="(\d+)"', html)
    return match and next(p.title for p in services.list_popups() if p.id == int(match.group(1)))


# schedule -----------------------------------------------------------------
def test_shop_time_zone_conversion(app):
    # Asia/Shanghai is UTC+8 all year: Double 11 midnight is 16:00 UTC on the 10th.
    assert local_to_utc(datetime(2026, 11, 11, 0, 0)) == datetime(2026, 11, 10, 16, 0)
    assert utc_to_local(datetime(2026, 11, 10, 16, 0)) == datetime(2026, 11, 11, 0, 0)
    assert shop_today(datetime(2026, 11, 10, 16, 30)).isoformat() == "2026-11-11"


def test_admin_form_enters_and_shows_shop_time(client, enabled, staff):
    sign_in(client, staff)
    response = client.post("/admin/popups/new", data={
        "title": "TZ", "starts_at": "2026-11-11T00:00", "ends_at": "2026-11-12T00:00", "pages": ["home"],
        "audience": "everyone", "trigger": "load", "trigger_value": "0", "frequency": "always",
        "priority": "0", "split_percent": "50", "active": "y"})
    assert response.status_code == 302
    popup = db.session.execute(db.select(Popup)).scalar_one()
    assert popup.starts_at == datetime(2026, 11, 10, 16, 0)
    assert popup.ends_at == datetime(2026, 11, 11, 16, 0)
    edit = client.get(f"/admin/popups/{popup.id}/edit").get_data(as_text=True)
    assert 'value="2026-11-11T00:00"' in edit and 'value="2026-11-12T00:00"' in edit


@pytest.mark.parametrize("start,end,now,live", [
    (None, None, 0, True),
    (0, 10, 0, True),        # start inclusive
    (0, 10, 10, False),      # end exclusive
    (0, 10, 9, True),
    (5, 5, 5, False),        # start == end never shows
    (5, 5, 4, False),
    (5, 10, 4, False),       # not started
    (None, 10, 10, False),
    (5, None, 5, True),
])
def test_schedule_edges(app, start, end, now, live):
    base = datetime(2026, 11, 11, 0, 0)
    at = lambda m: None if m is None else base + timedelta(minutes=m)  # noqa: E731
    popup = Popup(title="t", active=True, starts_at=at(start), ends_at=at(end))
    assert popup.is_live(at(now)) is live
    popup.active = False
    assert popup.is_live(at(now)) is False


def test_start_equal_end_is_refused_and_never_shown(client, enabled, staff):
    now = utcnow()
    with pytest.raises(services.ValidationFailed) as err:
        make_popup(starts_at=now, ends_at=now)
    assert err.value.field == "ends_at"
    popup = make_popup(title="Window")
    popup.starts_at = popup.ends_at = now - timedelta(minutes=1)
    db.session.commit()
    services.set_active(popup.id, True)  # bump the version like any change
    assert shown(client) is None


def test_future_and_past_popups_do_not_show(client, enabled):
    now = utcnow()
    make_popup(title="Future", starts_at=now + timedelta(hours=1))
    make_popup(title="Past", starts_at=now - timedelta(days=2), ends_at=now - timedelta(seconds=1))
    assert shown(client) is None
    make_popup(title="Now", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
    assert shown(client) == "Now"


# pages --------------------------------------------------------------------
def test_page_targeting(client, enabled):
    make_popup(title="Products only", pages=["product", "category"])
    assert shown(client, "home") is None
    assert shown(client, "product") == "Products only"
    assert shown(client, "category") == "Products only"
    assert shown(client, "cart") is None


@pytest.mark.parametrize("page", ["checkout", "pay"])
def test_never_on_checkout_or_payment(client, enabled, page):
    make_popup(title="Everywhere", pages=["all"])
    assert shown(client, "other") == "Everywhere"
    assert shown(client, page) is None


def test_never_on_admin_pages(client, enabled, staff):
    make_popup(title="Everywhere", pages=["all"])
    sign_in(client, staff)
    assert "data-pp-popup" not in client.get("/admin/popups/").get_data(as_text=True)


# audience -----------------------------------------------------------------
def test_new_visitors_only_during_their_first_visit(client, enabled):
    make_popup(title="Welcome", audience="new")
    response = client.get(PAGES["home"])
    assert b"Welcome" in response.data
    cookies = " ".join(response.headers.getlist("Set-Cookie"))
    assert "pp_seen=" in cookies and "pp_new=1" in cookies
    assert shown(client) == "Welcome"  # same browser session: still the first visit
    client.delete_cookie("pp_new")  # browser closed: pp_seen stays
    assert shown(client) is None


def test_signed_in_audience(client, enabled, buyer):
    make_popup(title="Members", audience="signed_in")
    assert shown(client) is None
    sign_in(client, buyer)
    assert shown(client) == "Members"


def test_buyers_with_no_order_yet(client, enabled, buyer):
    make_popup(title="First order", audience="no_order")
    assert shown(client) is None  # anonymous
    sign_in(client, buyer)
    assert shown(client) == "First order"
    db.session.add(Order(number="PP-1", user_id=buyer.id, currency="CNY", subtotal=100, total=100,
                         delivery_code="courier", delivery_label="Courier"))
    db.session.commit()
    assert shown(client) is None


# priority and frequency caps ----------------------------------------------------
def test_highest_priority_wins_one_at_a_time(client, enabled):
    make_popup(title="Low", priority=1)
    high = make_popup(title="High", priority=5)
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert html.count("data-pp-popup=") == 1 and "High" in html
    services.set_active(high.id, False)
    assert shown(client) == "Low"


@pytest.mark.parametrize("frequency,value,hidden", [
    ("always", "1", False), ("session", "1", True), ("once", "1", True),
    ("day", "TODAY", True), ("day", "20000101", False),
])
def test_frequency_cap_cookie_is_honoured_server_side(client, enabled, frequency, value, hidden):
    make_popup(title="Low", priority=0, frequency="always")
    capped = make_popup(title="Capped", priority=9, frequency=frequency)
    if value == "TODAY":
        value = shop_today(utcnow()).strftime("%Y%m%d")
    assert shown(client) == "Capped"
    client.set_cookie(f"pp_f{capped.id}", value)
    assert shown(client) == ("Low" if hidden else "Capped")


def test_popup_markup_carries_trigger_and_cap(client, enabled):
    make_popup(title="Scroll", trigger="scroll", trigger_value=40, frequency="day")
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert 'data-pp-trigger="scroll"' in html and 'data-pp-value="40"' in html
    assert 'data-pp-frequency="day"' in html and 'hidden' in html
    assert f'data-pp-day="{shop_today(utcnow()).strftime("%Y%m%d")}"' in html
    assert "<script>" not in html  # no inline script (CSP script-src 'self')
    assert "style=" not in html.split('class="pp-overlay')[1]


# A/B -----------------------------------------------------------------------
def test_ab_split_is_sticky_per_visitor(client, enabled, app):
    make_popup(title="A title", b_enabled=True, b_title="B title", split_percent=100)
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert 'data-pp-variant="b"' in html and "B title" in html and "A title" not in html
    popup = services.list_popups()[0]
    services.update_popup(popup.id, {"split_percent": 0}, partial=True)
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert 'data-pp-variant="a"' in html and "A title" in html


# cache --------------------------------------------------------------------
def test_one_cached_lookup_and_invalidation_on_change(client, enabled, app):
    popup = make_popup(title="Cached")
    statements = []

    def count(conn, cursor, statement, *args):
        if "promo_popups_popups" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert shown(client) == "Cached"  # shown() itself lists popups once
        before = len(statements)
        for _ in range(3):
            assert b"Cached" in client.get(PAGES["home"]).data
        assert len(statements) == before  # served from the cache
        services.update_popup(popup.id, {"title": "Renamed"}, partial=True)
        assert b"Renamed" in client.get(PAGES["home"]).data
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_disabled_plugin_shows_nothing(client, enabled, app):
    make_popup(title="Hidden")
    assert shown(client) == "Hidden"
    from storefront.settings_models import PluginState

    db.session.get(PluginState, "promo_popups").enabled = False
    db.session.commit()
    html = client.get(PAGES["home"]).get_data(as_text=True)
    assert "data-pp-popup" not in html and "promo_popups" not in html


def test_coupon_claim_button_comes_from_another_plugin(client, enabled, app):
    from markupsafe import Markup

    from storefront.plugins import hookimpl
    from storefront.plugins.host import get_host

    make_popup(title="Claim", coupon_code="D11-10")
    assert "data-pp-claim" not in client.get(PAGES["home"]).get_data(as_text=True)  # nobody answers: no button

    class FakeCoupons:
        @hookimpl
        def template_slot(self, name, context):
            if name == "popup_coupon_claim":
                return Markup('<button type="button" data-pp-claim>%s</button>') % context["coupon_code"]
            return None

    pm = get_host().pm
    pm.register(FakeCoupons(), name="fake_coupons")
    try:
        html = client.get(PAGES["home"]).get_data(as_text=True)
        assert '<button type="button" data-pp-claim>D11-10</button>' in html
    finally:
        pm.unregister(name="fake_coupons")


def _answering(answer):
    """Stands in for a plugin answering ``promotion_claimable`` (the real one is tested with coupons)."""
    from storefront.plugins import hookimpl

    class ClaimAnswers:
        def __init__(self):
            self.answer, self.asked = answer, []

        @hookimpl
        def promotion_claimable(self, ref):
            self.asked.append(ref)
            return self.answer

    return ClaimAnswers()


@pytest.mark.parametrize("answer, shown", [(True, True), (None, True), (False, False)])
def test_claimed_out_coupon_hides_its_popup(client, enabled, app, answer, shown):
    from storefront.plugins.host import get_host

    make_popup(title="Claim", coupon_code="D11-10")
    fake = _answering(answer)
    get_host().pm.register(fake, name="fake_claims")
    try:
        clear_cache()
        assert ("data-pp-popup" in client.get(PAGES["home"]).get_data(as_text=True)) is shown
        assert fake.asked == ["coupon:D11-10"]
    finally:
        get_host().pm.unregister(name="fake_claims")


def test_claimable_answer_is_cached_until_a_plugin_state_changes(client, enabled, app):
    from storefront.plugins.host import get_host

    make_popup(title="Claim", coupon_code="D11-10")
    make_popup(title="Plain", priority=-5)  # no coupon: never asked about
    fake = _answering(True)
    get_host().pm.register(fake, name="fake_claims")
    try:
        clear_cache()
        for _i in range(3):
            assert ">Claim</h2>" in client.get(PAGES["home"]).get_data(as_text=True)
        assert fake.asked == ["coupon:D11-10"]  # once per cache fill, not per page
        fake.answer = False  # claimed out; the answering plugin bumps its own state version
        set_plugin_state("fake_claims", True)
        html = client.get(PAGES["home"]).get_data(as_text=True)
        assert ">Claim</h2>" not in html and ">Plain</h2>" in html
        assert fake.asked == ["coupon:D11-10", "coupon:D11-10"]
    finally:
        get_host().pm.unregister(name="fake_claims")


"""After placing: ready (codes, notification), the counter (exactly-once hand-over, lockout), closing."""
from __future__ import annotations

import threading

import pytest

from plugins.store_pickup import pickups
from plugins.store_pickup.models import Pickup, SlotUsage
from storefront.errors import Conflict, Forbidden, NotFound, ServiceError, TransitionVetoed, ValidationFailed
from storefront.extensions import db
from storefront.notify.models import InboxMessage, OutboxMessage
from storefront.orders.models import Order, OrderEvent
from storefront.orders.services import cancel_by_buyer, confirm_receipt
from storefront.orders.status import OrderStatus
from tests.factories import make_staff, make_user

from .conftest import place_pickup_order, set_enabled, sign_in, thread_client


def _pickup(order) -> Pickup:
    db.session.expire_all()
    return db.session.execute(db.select(Pickup).where(Pickup.order_id == order.id)).scalar_one()


def _ready(order, staff) -> Pickup:
    pickups.mark_ready(_pickup(order).id, staff)
    return _pickup(order)


def test_mark_ready_ships_the_order_draws_a_code_and_notifies(app, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    pickup = _ready(order, staff)
    assert pickup.status == "ready" and pickup.code == pickup.open_code
    assert len(pickup.code) == 8 and pickup.code.isdigit()
    order = db.session.get(Order, order.id)
    assert order.status == OrderStatus.SHIPPED and order.carrier == "Store pickup"
    assert order.tracking_number == pickup.reference and order.auto_confirm_at is None
    inbox = db.session.execute(db.select(InboxMessage).where(InboxMessage.kind == "store_pickup_ready")).scalar_one()
    assert pickup.code in inbox.body and inbox.user_id == buyer.id
    assert db.session.execute(db.select(OutboxMessage).where(OutboxMessage.kind == "store_pickup_ready")).scalar_one()


def test_marking_ready_reads_nothing_again_under_the_write_lock(app, location, buyer, staff):
    """A store marks a sale's orders ready while buyers still check out: the pickup, its
    order, its store, the buyer and the message are read and rendered before the lock."""
    from tests.perf.conftest import ORDER_ROW, count_queries

    order = place_pickup_order(buyer, location)
    pickup_id = _pickup(order).id
    staff.email  # noqa: B018 - the signed-in staff member, loaded by the request
    with count_queries() as seen:
        ready = pickups.mark_ready(pickup_id, staff)
    locked = seen.inside_writes()
    assert locked.matching(r"^UPDATE store_pickup_pickups SET status")
    assert locked.matching(r"^INSERT INTO inbox_messages")
    assert not locked.matching(ORDER_ROW), locked
    assert not locked.matching(r"^SELECT (users|store_pickup_locations|store_pickup_pickups\.id)"), locked
    stored = _pickup(order)
    assert (ready.code, ready.open_code, ready.status) == (stored.code, stored.open_code, "ready")
    inbox = db.session.execute(db.select(InboxMessage).where(InboxMessage.kind == "store_pickup_ready")).scalar_one()
    assert stored.code in inbox.body and location.name in inbox.body


def test_an_order_cancelled_after_it_was_read_is_not_marked_ready(app, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    pickup = _pickup(order)
    db.session.get(Order, order.id).status  # noqa: B018 - read as paid, as the store's page showed it
    with db.engine.begin() as other:  # the buyer's cancellation commits meanwhile
        other.execute(db.update(Order).where(Order.id == order.id).values(status=OrderStatus.CLOSED))
    with pytest.raises(ServiceError):
        pickups.mark_ready(pickup.id, staff)
    assert _pickup(order).status == "preparing" and _pickup(order).open_code is None
    assert db.session.execute(db.select(db.func.count()).select_from(InboxMessage)
                              .where(InboxMessage.kind == "store_pickup_ready")).scalar() == 0


def test_unpaid_order_cannot_be_marked_ready(app, location, buyer, staff):
    order = place_pickup_order(buyer, location, pay=False)
    with pytest.raises(Conflict):
        pickups.mark_ready(_pickup(order).id, staff)
    assert _pickup(order).status == "preparing" and _pickup(order).open_code is None


def test_mark_ready_twice_is_refused_and_keeps_the_code(app, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    code = _ready(order, staff).code
    with pytest.raises(Conflict):
        pickups.mark_ready(_pickup(order).id, staff)
    assert _pickup(order).code == code


@pytest.mark.parametrize("bad_id", [999999, "abc", None, "1; DROP TABLE"])
def test_an_unknown_pickup_is_not_found_and_takes_no_write_lock(app, location, staff, bad_id):
    from tests.perf.conftest import no_write_transaction

    with no_write_transaction(), pytest.raises(NotFound):
        pickups.mark_ready(bad_id, staff)


def test_buyer_cannot_mark_ready(app, location, buyer):
    order = place_pickup_order(buyer, location)
    with pytest.raises(Forbidden):
        pickups.mark_ready(_pickup(order).id, buyer)


def test_bulk_ready_page(app, client, location, staff):
    orders = [place_pickup_order(make_user(), location) for _ in range(3)]
    unpaid = place_pickup_order(make_user(), location, pay=False)
    sign_in(client, staff)
    ids = [str(_pickup(o).id) for o in orders + [unpaid]]
    response = client.post("/admin/pickup/ready", data={"pickup_id": ids}, follow_redirects=True)
    assert response.status_code == 200
    assert [_pickup(o).status for o in orders] == ["ready"] * 3
    assert _pickup(unpaid).status == "preparing"
    assert "3 pickup(s) marked ready" in response.get_data(as_text=True)


def test_codes_are_random_and_unique_among_open_pickups(app, location, staff, monkeypatch):
    drawn = iter(["11112222", "11112222", "33334444"])
    monkeypatch.setattr(pickups, "new_code", lambda: next(drawn))
    first = _ready(place_pickup_order(make_user(), location), staff)
    second = _ready(place_pickup_order(make_user(), location), staff)
    assert (first.open_code, second.open_code) == ("11112222", "33334444")  # collision redrawn


def test_codes_come_from_the_csprng():
    codes = {pickups.new_code() for _ in range(200)}
    assert len(codes) > 190 and all(len(c) == 8 and c.isdigit() for c in codes)


def test_a_closed_pickups_code_can_be_reused(app, location, staff, monkeypatch):
    monkeypatch.setattr(pickups, "new_code", lambda: "55556666")
    first = _ready(place_pickup_order(make_user(), location), staff)
    pickups.verify_code(location.id, first.code, staff)
    second = _ready(place_pickup_order(make_user(), location), staff)
    assert second.open_code == "55556666" and _pickup(first.order).open_code is None


# -- counter ------------------------------------------------------------------------------
def test_verify_hands_over_once_and_completes_the_order(app, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    code = _ready(order, staff).code
    pickups.verify_code(location.id, f" {code[:4]} {code[4:]} ", staff)  # spaces typed are ignored
    pickup = _pickup(order)
    assert pickup.status == "collected" and pickup.open_code is None and pickup.collected_by == staff.id
    assert db.session.get(Order, order.id).status == OrderStatus.COMPLETED
    kinds = db.session.execute(db.select(OrderEvent.kind).where(OrderEvent.order_id == order.id)).scalars().all()
    assert "pickup_collected" in kinds
    with pytest.raises(NotFound):
        pickups.verify_code(location.id, code, staff)


def test_code_works_only_at_its_own_location(app, location, buyer, staff):
    from .conftest import make_location

    other = make_location(name="Other store")
    code = _ready(place_pickup_order(buyer, location), staff).code
    with pytest.raises(NotFound):
        pickups.verify_code(other.id, code, staff)


def test_buyer_cannot_confirm_receipt_before_collecting(app, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    _ready(order, staff)
    with pytest.raises(TransitionVetoed):
        confirm_receipt(db.session.get(Order, order.id), buyer)


def test_concurrent_verification_redeems_exactly_once(app, location, buyer):
    staff_users = [make_staff() for _ in range(8)]
    order = place_pickup_order(buyer, location)
    code = _ready(order, staff_users[0]).code
    clients = []
    for user in staff_users:
        c = thread_client(app)
        sign_in(c, user)
        clients.append(c)
    barrier = threading.Barrier(len(clients))
    statuses = [0] * len(clients)
    url = f"/admin/pickup/counter/{location.id}/verify"

    def submit(i):
        barrier.wait(timeout=120)
        try:
            statuses[i] = clients[i].post(url,
                                          data={"code": code}).status_code
        except Exception as exc:  # noqa: BLE001
            statuses[i] = repr(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.rollback()
    assert statuses.count(302) == 1, statuses
    assert all(s in (302, 404, 409) for s in statuses), statuses
    events = db.session.execute(db.select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                            OrderEvent.kind == "pickup_collected")).scalars().all()
    assert len(events) == 1
    assert db.session.get(Order, order.id).status == OrderStatus.COMPLETED


def test_wrong_codes_lock_the_counter_per_staff_and_location(app, location, buyer, staff):
    set_enabled(True, max_wrong_codes=3, lockout_minutes=15)
    code = _ready(place_pickup_order(buyer, location), staff).code
    wrong = "00000000" if code != "00000000" else "11111111"
    for _ in range(3):
        with pytest.raises((NotFound, ValidationFailed)):
            pickups.verify_code(location.id, wrong, staff)
    with pytest.raises(pickups.TooManyAttempts):
        pickups.verify_code(location.id, code, staff)  # even the right code waits out the lock
    assert _pickup_status_by_code(code) == "ready"
    colleague = make_staff()
    pickups.verify_code(location.id, code, colleague)  # another staff member is not locked
    assert _pickup_status_by_code(code) is None


def _pickup_status_by_code(code):
    db.session.expire_all()
    return db.session.execute(db.select(Pickup.status).where(Pickup.open_code == code)).scalar()


def test_malformed_code_counts_as_wrong(app, location, staff):
    set_enabled(True, max_wrong_codes=2)
    for bad in ("abc", "1234"):
        with pytest.raises(ValidationFailed):
            pickups.verify_code(location.id, bad, staff)
    with pytest.raises(pickups.TooManyAttempts):
        pickups.verify_code(location.id, "12345678", staff)


def test_counter_page_lists_today_and_verifies(app, client, enabled, buyer, staff):
    from .conftest import make_location

    location = make_location(prep_minutes=0)
    order = place_pickup_order(buyer, location)
    code = _ready(order, staff).code
    sign_in(client, staff)
    page = client.get(f"/admin/pickup/counter/{location.id}").get_data(as_text=True)
    from plugins.store_pickup.slots import shop_zone, to_local
    from storefront.clock import utcnow

    zone = shop_zone()
    today = to_local(_pickup(order).slot_start, zone).date() == to_local(utcnow(), zone).date()
    # The first free slot is tomorrow late in the shop's day: then it is not on today's screen.
    assert (order.number in page) == today
    response = client.post(f"/admin/pickup/counter/{location.id}/verify", data={"code": "99999999"})
    assert response.status_code == 404 and "No order is waiting with this code here." in response.get_data(as_text=True)
    response = client.post(f"/admin/pickup/counter/{location.id}/verify", data={"code": code})
    assert response.status_code == 302
    assert _pickup(order).status == "collected"


def test_counter_needs_staff(app, client, location, buyer):
    sign_in(client, buyer)
    assert client.get(f"/admin/pickup/counter/{location.id}").status_code == 403
    assert client.post(f"/admin/pickup/counter/{location.id}/verify", data={"code": "12345678"}).status_code == 403
    assert client.post("/admin/pickup/ready", data={"pickup_id": ["1"]}).status_code == 403


# -- order page: who sees the code --------------------------------------------------------
def test_code_shown_to_the_buyer_and_staff_only(app, client, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    code = _ready(order, staff).code
    sign_in(client, buyer)
    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert code in page and location.address in page and "Ready for pickup" in page
    staff_client = type(client)(app, app.response_class, use_cookies=True)
    sign_in(staff_client, staff)
    assert code in staff_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    other = type(client)(app, app.response_class, use_cookies=True)
    sign_in(other, make_user())
    response = other.get(f"/orders/{order.number}")
    assert response.status_code == 404 and code not in response.get_data(as_text=True)


def test_no_code_before_ready(app, client, location, buyer):
    order = place_pickup_order(buyer, location)
    sign_in(client, buyer)
    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Being prepared" in page and "Show this code" not in page


# -- closing ------------------------------------------------------------------------------
def test_cancelled_order_frees_its_slot_once(app, location, buyer):
    order = place_pickup_order(buyer, location)
    cancel_by_buyer(db.session.get(Order, order.id), buyer)
    db.session.expire_all()
    assert _pickup(order).status == "cancelled"
    assert db.session.execute(db.select(SlotUsage.used)).scalar() == 0
    assert pickups.release_for_closed_order(order.id) is False  # a second call changes nothing
    assert db.session.execute(db.select(SlotUsage.used)).scalar() == 0


# -- disabled plugin ----------------------------------------------------------------------
def test_disabled_plugin_keeps_open_pickups_serviceable(app, client, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    set_enabled(False)
    sign_in(client, staff)
    assert client.get("/admin/pickup/").status_code == 200
    response = client.post("/admin/pickup/ready", data={"pickup_id": [str(_pickup(order).id)]})
    assert response.status_code == 302 and _pickup(order).status == "ready"
    response = client.post(f"/admin/pickup/counter/{location.id}/verify", data={"code": _pickup(order).code})
    assert response.status_code == 302 and _pickup(order).status == "collected"
    assert db.session.get(Order, order.id).status == OrderStatus.COMPLETED
    assert client.get("/pickup/stores").status_code == 404  # buyer pages of a disabled plugin


def test_qr_code_of_the_pickup_code_on_the_buyers_page(app, client, location, buyer, staff):
    pytest.importorskip("qrcode")
    from plugins.store_pickup.qr import qr_svg

    svg = str(qr_svg("12345678", label="12345678"))
    assert svg.startswith('<svg class="sp-qr"') and 'viewBox="0 0 29 29"' in svg  # version 1 + quiet zone
    assert svg != str(qr_svg("12345679"))
    order = place_pickup_order(buyer, location)
    code = _ready(order, staff).code
    sign_in(client, buyer)
    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert 'class="sp-qr"' in page and f'aria-label="{code}"' in page


def test_staff_marks_ready_from_the_order_admin_page(app, client, location, buyer, staff):
    order = place_pickup_order(buyer, location)
    sign_in(client, staff)
    page = client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert "Mark ready for pickup" in page and "Han Meimei" in page
    response = client.post("/admin/pickup/ready", data={"pickup_id": str(_pickup(order).id),
                                                        "next": f"/admin/orders/{order.number}"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/orders/{order.number}")
    assert _pickup(order).status == "ready"
    response = client.post("/admin/pickup/ready", data={"pickup_id": "1", "next": "//evil.example/x"})
    assert "evil.example" not in response.headers["Location"]


def test_core_shipping_of_a_pickup_order_is_refused(app, location, buyer, staff):
    from storefront.orders.services import ship_order
    from storefront.settings import get_setting

    order = place_pickup_order(buyer, location)
    carrier = (get_setting("carriers") or ["SF Express"])[0]
    with pytest.raises(TransitionVetoed):
        ship_order(db.session.get(Order, order.id), staff, carrier, "SF1234567890")
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    assert _ready(order, staff).status == "ready"


def test_code_entry_is_rate_limited_per_staff_member(app, limited_client, location, staff):
    from .conftest import bearer

    set_enabled(True, max_wrong_codes=50)  # the lockout stays out of the way: this is the request limit
    sign_in(limited_client, staff)
    url = f"/admin/pickup/counter/{location.id}/verify"
    assert [limited_client.post(url, data={"code": "00000001"}).status_code for _ in range(3)] == [404] * 3
    response = limited_client.post(url, data={"code": "00000001"})
    assert response.status_code == 429 and "Too many attempts" in response.get_data(as_text=True)
    api = type(limited_client)(limited_client.application, limited_client.application.response_class)
    response = api.post(f"/api/v1/pickup/locations/{location.id}/verify", headers=bearer(staff),
                        json={"code": "00000001"})
    assert response.status_code == 429  # one budget for the page and the API
    colleague = type(limited_client)(limited_client.application, limited_client.application.response_class,
                                     use_cookies=True)
    sign_in(colleague, make_staff())
    assert colleague.post(url, data={"code": "00000001"}).status_code == 404


def test_counter_screen_lists_todays_pickups_by_status(app, client, location, staff):
    from datetime import timedelta

    from storefront.clock import utcnow

    preparing, ready, collected, later = (place_pickup_order(make_user(), location) for _ in range(4))
    now = utcnow().replace(second=0, microsecond=0)
    for order, start in ((preparing, now), (ready, now), (collected, now), (later, now + timedelta(days=2))):
        db.session.execute(db.update(Pickup).where(Pickup.order_id == order.id).values(slot_start=start))
    db.session.commit()
    _ready(ready, staff)
    pickups.verify_code(location.id, _ready(collected, staff).code, staff)
    sign_in(client, staff)
    page = client.get(f"/admin/pickup/counter/{location.id}").get_data(as_text=True)
    assert all(o.number in page for o in (preparing, ready, collected)) and later.number not in page
    assert "1 ready, 1 being prepared, 1 collected" in page
    assert 'inputmode="numeric"' in page and "Mark ready" in page


def test_order_page_shows_store_hours_map_slot_and_each_status(app, client, location, buyer, staff):
    from plugins.store_pickup.slots import shop_zone, to_local

    order = place_pickup_order(buyer, location)
    sign_in(client, buyer)
    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    start = to_local(_pickup(order).slot_start, shop_zone()).strftime("%Y-%m-%d %H:%M")
    assert location.address in page and 'href="https://example.com/map"' in page
    assert "Monday" in page and "00:00-24:00" in page and start in page and "Being prepared" in page
    assert "Ship to" not in page and "Deliver to" not in page
    code = _ready(order, staff).code
    assert "Ready for pickup" in client.get(f"/orders/{order.number}").get_data(as_text=True)
    pickups.verify_code(location.id, code, staff)
    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Collected" in page and code not in page.split("sp-order", 1)[1].split("</section>", 1)[0]


def test_an_orders_pickup_comes_with_its_store_in_one_statement(app, location, buyer):
    from tests.perf.conftest import count_queries

    order = place_pickup_order(buyer, location)
    order_id, store_name = order.id, location.name
    db.session.expunge_all()
    with count_queries() as seen:
        pickup = pickups.pickup_for_order(order_id)
        assert pickup.order_id == order_id and pickup.location.name == store_name
    assert len(seen) == 1
    assert pickups.pickup_for_order(order_id + 1000) is None

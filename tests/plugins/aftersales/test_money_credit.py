"""Store credit: ledger and balance, checkout spending, return on close, pages, API, races."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from plugins.aftersales import credit
from plugins.aftersales.money_models import CreditEntry
from storefront.cart.models import Cart, CartLine
from storefront.checkout import services as checkout_services
from storefront.errors import Conflict, Forbidden, NotFound, ValidationFailed
from storefront.extensions import db
from storefront.orders import services as order_services
from storefront.orders.models import Order
from storefront.plugins.host import get_host
from tests.races import run_threads
from tests.plugins.aftersales.conftest import bearer, client_for, make_product, new_client, set_enabled


def give(user, amount: int, key: str | None = None) -> CreditEntry | None:
    return credit.post(user.id, amount, "adjustment", key or uuid.uuid4().hex, note="test")


def fill_cart(user, sku_id: int, quantity: int = 1) -> None:
    cart = db.session.execute(select(Cart).where(Cart.user_id == user.id)).scalar_one_or_none()
    if cart is None:
        cart = Cart(user_id=user.id, data={})
        db.session.add(cart)
    cart.lines.append(CartLine(sku_id=sku_id, quantity=quantity))
    db.session.commit()


ADDRESS = {"name": "Li Lei", "phone": "13900000000", "line1": "1 Nanjing Rd", "city": "Shanghai"}


def checkout(user, product, quantity: int = 1):
    fill_cart(user, product.skus[0].id, quantity)
    return checkout_services.place_order(user, idempotency_key=uuid.uuid4().hex, delivery_code="courier",
                                         address=ADDRESS)


def entries_of(user) -> list[CreditEntry]:
    db.session.rollback()
    return list(db.session.execute(select(CreditEntry).where(CreditEntry.user_id == user.id)
                                   .order_by(CreditEntry.id)).scalars())


# -- ledger ------------------------------------------------------------------------------
def test_post_moves_balance_and_ledger_exactly_once(app, enabled, buyer):
    assert credit.balance(buyer.id) == 0
    first = give(buyer, 1500, key="k-one-1234")
    again = give(buyer, 1500, key="k-one-1234")
    assert first is not None and again is None
    assert credit.balance(buyer.id) == 1500
    credit.post(buyer.id, -500, "checkout", "k-two-1234")
    assert credit.balance(buyer.id) == 1000
    assert [e.amount for e in entries_of(buyer)] == [1500, -500]


def test_debit_beyond_balance_is_refused_and_writes_nothing(app, enabled, buyer):
    give(buyer, 300)
    with pytest.raises(Conflict) as err:
        credit.post(buyer.id, -301, "checkout", "too-much-1")
    assert err.value.code == "insufficient_credit"
    assert credit.balance(buyer.id) == 300
    assert len(entries_of(buyer)) == 1


@pytest.mark.parametrize("amount", [0, 1.5, True, "10"])
def test_post_rejects_non_integer_or_zero(app, enabled, buyer, amount):
    with pytest.raises(ValidationFailed):
        credit.post(buyer.id, amount, "adjustment", f"bad-{uuid.uuid4().hex}")


def test_concurrent_debits_never_overdraw(app, enabled, buyer):
    give(buyer, 3000)
    user_id = buyer.id

    def spend(i):
        return credit.post(user_id, -1000, "checkout", f"race-spend-{i}")

    results = run_threads(app, 6, spend)
    won = [r for r in results if isinstance(r, CreditEntry)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 3 and len(lost) == 3, results
    assert credit.balance(user_id) == 0
    total = db.session.execute(select(func.sum(CreditEntry.amount)).where(CreditEntry.user_id == user_id)).scalar()
    assert total == 0


def test_concurrent_duplicate_key_posts_once(app, enabled, buyer):
    user_id = buyer.id
    results = run_threads(app, 5, lambda i: credit.post(user_id, 700, "adjustment", "same-key-race"))
    assert sum(isinstance(r, CreditEntry) for r in results) == 1, results
    assert all(r is None or isinstance(r, CreditEntry) for r in results), results
    assert credit.balance(user_id) == 700


# -- checkout ----------------------------------------------------------------------------
def test_credit_is_spent_at_checkout_and_recorded_on_the_order(app, enabled, buyer):
    give(buyer, 3000)
    product = make_product(price=5000, stock=5)
    result = checkout(buyer, product)
    order = result.orders[0]
    assert order.total == 5000 - 3000 + 1000  # goods minus credit plus the ¥10 courier fee
    assert [(a.source, a.amount) for a in order.adjustments] == [("aftersales", -3000)]
    assert credit.balance(buyer.id) == 0
    assert credit.credit_used_by_order(order.id) == 3000
    kinds = [(e.kind, e.amount, e.order_id) for e in entries_of(buyer)]
    assert kinds[-1] == ("checkout", -3000, order.id)


def test_credit_never_exceeds_the_goods_price(app, enabled, buyer):
    give(buyer, 9000)
    order = checkout(buyer, make_product(price=5000, stock=5)).orders[0]
    assert order.total == 1000  # only shipping is left to pay
    assert credit.balance(buyer.id) == 4000


def test_buyer_can_turn_credit_off_at_checkout(app, enabled, buyer):
    give(buyer, 2000)
    credit.set_use_at_checkout(buyer, False)
    order = checkout(buyer, make_product(price=5000, stock=5)).orders[0]
    assert order.total == 6000
    assert credit.balance(buyer.id) == 2000


def test_setting_off_or_plugin_disabled_leaves_credit_alone(app, enabled, buyer):
    give(buyer, 2000)
    set_enabled(True, credit_at_checkout=False)
    assert checkout(buyer, make_product(price=5000, stock=5)).orders[0].total == 6000
    set_enabled(False)
    assert checkout(buyer, make_product(price=5000, stock=5)).orders[0].total == 6000
    assert credit.balance(buyer.id) == 2000


def test_checkout_aborts_when_the_balance_changed_meanwhile(app, enabled, buyer, monkeypatch):
    give(buyer, 3000)
    product = make_product(price=5000, stock=5)
    real = checkout_services.prepare_checkout
    user_id = buyer.id

    def prepare_then_spend(*args, **kwargs):
        draft = real(*args, **kwargs)
        credit.post(user_id, -2000, "adjustment", "spent-elsewhere")  # another tab spent it meanwhile
        return draft

    monkeypatch.setattr(checkout_services, "prepare_checkout", prepare_then_spend)
    with pytest.raises(Conflict) as err:
        checkout(buyer, product)
    assert err.value.code == "store_credit_changed"
    db.session.rollback()
    assert db.session.execute(select(func.count(Order.id))).scalar() == 0
    assert credit.balance(user_id) == 1000
    assert db.session.get(type(product.skus[0]), product.skus[0].id).stock == 5


@pytest.mark.parametrize("loaded", [True, False])
def test_debit_reads_the_orders_credit_from_memory_or_the_table_alike(app, enabled, buyer, monkeypatch, loaded):
    """The checkout's just-written adjustments are summed in memory; an order loaded otherwise is asked."""
    give(buyer, 3000)
    order_id = checkout(buyer, make_product(price=5000, stock=5)).orders[0].id
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    if loaded:
        assert order.adjustments  # loads the collection
    posted = []
    monkeypatch.setattr(credit, "post", lambda user_id, amount, kind, key, **kw: posted.append((amount, kind)))
    credit.debit_for_order(order)
    assert posted == [(-3000, "checkout")]


def test_credit_comes_back_once_when_the_order_closes(app, enabled, buyer):
    give(buyer, 3000)
    order = checkout(buyer, make_product(price=5000, stock=5)).orders[0]
    order_services.cancel_by_buyer(order, buyer)
    assert credit.balance(buyer.id) == 3000
    assert credit.return_for_closed_order(order.id) is None  # a second delivery of the event
    assert [e.kind for e in entries_of(buyer)] == ["adjustment", "checkout", "checkout_return"]
    assert credit.credit_used_by_order(order.id) == 0


def test_order_page_sums_agree_with_each_total(app, enabled, buyer):
    """The order panel reads spent, used and refunded-as-credit in one grouped statement."""
    from plugins.aftersales.credit_refunds import credit_refunded_on_order

    give(buyer, 3000)
    order = checkout(buyer, make_product(price=5000, stock=5)).orders[0]
    credit.post(buyer.id, 1200, "refund", f"refund-{order.id}", order_id=order.id)
    order_services.cancel_by_buyer(order, buyer)
    sums = credit.order_credit_sums(order.id)
    assert sums == {"checkout": -3000, "checkout_return": 3000, "refund": 1200}
    assert -sums["checkout"] == credit.credit_spent_by_order(order.id) == 3000
    assert -sums["checkout"] - sums["checkout_return"] == credit.credit_used_by_order(order.id) == 0
    assert sums["refund"] == credit_refunded_on_order(order.id) == 1200
    assert credit.order_credit_sums(order.id + 1000) == {}


def test_sweep_returns_credit_of_orders_closed_while_disabled(app, enabled, buyer):
    give(buyer, 2500)
    order = checkout(buyer, make_product(price=5000, stock=5)).orders[0]
    set_enabled(False)
    order_services.cancel_by_buyer(order, buyer)
    assert credit.balance(buyer.id) == 0
    set_enabled(True)
    from storefront.clock import utcnow

    tenth_minute = utcnow().replace(minute=0)
    get_host().hook.sweep(now=tenth_minute.replace(minute=7))  # the safety net runs every tenth minute
    assert credit.balance(buyer.id) == 0
    counts = get_host().hook.sweep(now=tenth_minute)
    assert any(c and c.get("aftersales_credit_returned") == 1 for c in counts)
    assert credit.balance(buyer.id) == 2500
    get_host().hook.sweep(now=tenth_minute.replace(minute=10))
    assert credit.balance(buyer.id) == 2500


def test_open_order_keeps_its_credit(app, enabled, buyer):
    give(buyer, 1000)
    checkout(buyer, make_product(price=5000, stock=5))
    assert credit.closed_orders_owed_credit() == []
    assert credit.balance(buyer.id) == 0


# -- staff adjustments ------------------------------------------------------------------------
def test_staff_adjustment_is_idempotent_and_audited(app, enabled, buyer, staff):
    entry = credit.adjust_by_staff(staff, buyer.id, "12.50", "Sorry for the wait", "form-key-1")
    again = credit.adjust_by_staff(staff, buyer.id, "12.50", "Sorry for the wait", "form-key-1")
    assert entry.id == again.id and entry.amount == 1250
    credit.adjust_by_staff(staff, buyer.id, "-2.50", "Correction", "form-key-2")
    assert credit.balance(buyer.id) == 1000
    with pytest.raises(Conflict):
        credit.adjust_by_staff(staff, buyer.id, "-20", "Too much", "form-key-3")


@pytest.mark.parametrize("amount,note,field", [("abc", "x", "amount"), ("0", "x", "amount"),
                                               ("5", "", "note"), ("5", "x" * 501, "note")])
def test_staff_adjustment_validates(app, enabled, buyer, staff, amount, note, field):
    with pytest.raises(ValidationFailed) as err:
        credit.adjust_by_staff(staff, buyer.id, amount, note, "form-key-9")
    assert err.value.field == field


def test_only_staff_adjust_and_unknown_buyer_is_404(app, enabled, buyer, staff):
    with pytest.raises(Forbidden):
        credit.adjust_by_staff(buyer, buyer.id, "5", "x", "form-key-5")
    with pytest.raises(NotFound):
        credit.adjust_by_staff(staff, 999999, "5", "x", "form-key-6")


# -- pages ---------------------------------------------------------------------------------
def test_buyer_page_shows_balance_and_toggle(app, enabled, buyer):
    give(buyer, 4200)
    c = client_for(app, buyer)
    page = c.get("/account/store-credit/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "42.00" in html and "Store credit" in html
    response = c.post("/account/store-credit/preference", data={})
    assert response.status_code == 302
    assert credit.uses_credit_at_checkout(buyer.id) is False
    c.post("/account/store-credit/preference", data={"use_at_checkout": "y"})
    assert credit.uses_credit_at_checkout(buyer.id) is True


def test_buyer_page_needs_sign_in_and_plugin(app, enabled, buyer):
    assert new_client(app).get("/account/store-credit/").status_code == 302
    set_enabled(False)
    assert client_for(app, buyer).get("/account/store-credit/").status_code == 404


def test_buyer_sees_only_own_ledger(app, enabled, buyer, other_buyer):
    credit.post(other_buyer.id, 777, "adjustment", "other-key-1", note="secret-note-xyz")
    html = client_for(app, buyer).get("/account/store-credit/").get_data(as_text=True)
    assert "secret-note-xyz" not in html


def test_preference_form_needs_csrf(app, enabled, buyer, secure_client):
    sign_in_secure = secure_client
    from tests.factories import sign_in

    sign_in(sign_in_secure, buyer)
    assert sign_in_secure.post("/account/store-credit/preference", data={}).status_code == 400


def test_staff_credit_pages(app, enabled, buyer, staff):
    give(buyer, 100)
    c = client_for(app, staff)
    assert buyer.email in c.get(f"/admin/aftersales/money/credit?q={buyer.email[:5]}").get_data(as_text=True)
    page = c.get(f"/admin/aftersales/money/credit/{buyer.id}")
    assert page.status_code == 200 and "1.00" in page.get_data(as_text=True)
    import re

    key = re.search(r'name="key" type="hidden" value="([0-9a-f]+)"', page.get_data(as_text=True)).group(1)
    for _ in range(2):  # a double click posts the same form twice
        response = c.post(f"/admin/aftersales/money/credit/{buyer.id}",
                          data={"amount": "5", "note": "Goodwill", "key": key})
        assert response.status_code == 302
    assert credit.balance(buyer.id) == 600
    bad = c.post(f"/admin/aftersales/money/credit/{buyer.id}", data={"amount": "x", "note": "n", "key": "k2k2k2"})
    assert bad.status_code == 422
    assert c.get("/admin/aftersales/money/credit/999999").status_code == 404


def test_staff_credit_pages_refuse_buyers_and_guests(app, enabled, buyer):
    assert client_for(app, buyer).get(f"/admin/aftersales/money/credit/{buyer.id}").status_code == 403
    assert new_client(app).get("/admin/aftersales/money/credit").status_code == 302


def test_account_menu_links_store_credit(app, enabled, buyer):
    html = client_for(app, buyer).get("/account/store-credit/").get_data(as_text=True)
    assert 'href="/account/store-credit/"' in html


# -- API -----------------------------------------------------------------------------------
def test_api_buyer_ledger_and_staff_adjust(app, enabled, buyer, staff):
    give(buyer, 900)
    c = new_client(app)
    body = c.get("/api/v1/aftersales/money/credit", headers=bearer(buyer)).get_json()
    assert body["balance"]["amount"] == 900 and body["entries"][0]["amount"]["amount"] == 900
    assert c.get("/api/v1/aftersales/money/credit").status_code == 401
    staff_headers = bearer(staff)
    made = c.post(f"/api/v1/aftersales/money/buyers/{buyer.id}/credit", headers=staff_headers,
                  json={"amount": "-4", "note": "fix", "idempotency_key": "api-key-0001"})
    assert made.status_code == 201 and made.get_json()["amount"]["amount"] == -400
    over = c.post(f"/api/v1/aftersales/money/buyers/{buyer.id}/credit", headers=staff_headers,
                  json={"amount": "-40", "note": "fix", "idempotency_key": "api-key-0002"})
    assert over.status_code == 409 and over.get_json()["error"]["code"] == "insufficient_credit"
    forbidden = c.post(f"/api/v1/aftersales/money/buyers/{buyer.id}/credit", headers=bearer(buyer),
                       json={"amount": "4", "note": "me", "idempotency_key": "api-key-0003"})
    assert forbidden.status_code == 403
    assert c.get(f"/api/v1/aftersales/money/buyers/{buyer.id}/credit", headers=staff_headers) \
        .get_json()["balance"]["amount"] == 500


def test_api_is_404_while_disabled(app, buyer):
    set_enabled(False)
    assert new_client(app).get("/api/v1/aftersales/money/credit", headers=bearer(buyer)).status_code == 404


def test_cart_page_shows_the_credit_line(app, enabled, buyer):
    give(buyer, 1200)
    fill_cart(buyer, make_product(price=5000, stock=5).skus[0].id)
    html = client_for(app, buyer).get("/cart/").get_data(as_text=True)
    assert "Store credit" in html and "12.00" in html


def test_demo_data_gives_the_demo_buyer_welcome_credit_once(app, enabled):
    from plugins.aftersales import money_hooks
    from storefront.clock import utcnow
    from tests.factories import make_user

    demo = make_user(email="buyer@example.com")
    money_hooks.demo_data(utcnow())
    db.session.commit()
    money_hooks.demo_data(utcnow())
    db.session.commit()
    assert credit.balance(demo.id) == 2000 and len(entries_of(demo)) == 1

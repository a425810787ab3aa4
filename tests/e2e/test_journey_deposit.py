"""Journey 2: a deposit presale (定金+尾款) from deposit to confirmed receipt.

The demo's down jacket takes a ¥50 deposit now; its balance window opens ten
days later. The test moves the shop clock into the window, runs the sweeps
(the reminder), and the buyer pays the balance from the order page; staff
ship and the buyer confirms receipt.
"""
from __future__ import annotations

import re

from tests.factories import PASSWORD

JACKET = "lightweight-down-jacket"
ADDRESS = {"name": "Pham Lan", "phone": "13812345678", "province": "Shanghai", "city": "Shanghai",
           "district": "Jing'an", "line1": "1601 Nanjing West Road", "postcode": "200040"}


def test_deposit_journey(tab, shop):
    buyer = shop.make_buyer(name="Pham Lan")
    page = tab()
    page.sign_in(buyer.email, PASSWORD)

    # The product page says it is a deposit presale, with the exact ship date.
    page.goto(f"/products/{JACKET}")
    assert page.page.locator(".badge-presale").first.is_visible()
    page.page.locator("input[name=sku_id]:not([disabled])").first.check()
    page.submit("form.catalog-buy .add-to-cart")

    # Checkout states the deposit now and the balance window later.
    page.goto("/checkout/")
    notice = page.page.locator(".presale-checkout").inner_text()
    assert re.search(r"you pay the deposit of (CN)?¥50\.00 now", notice), notice
    for name, value in ADDRESS.items():
        page.page.fill(f"input[name={name}]", value)
    page.submit(page.page.get_by_role("button", name="Place order and pay"))
    assert "¥50.00" in page.page.locator(".pay-amount").inner_text()
    page.submit(page.page.get_by_role("button", name="Pay now (test)"))
    [order] = shop.orders_of(buyer.email)
    assert order.paid_total == 5000 and order.status.value == "pending_payment"

    # Before the window: the deposit is recorded, the balance cannot be paid yet.
    page.goto(f"/orders/{order.number}")
    panel = page.page.locator(".presale-order")
    assert "Deposit paid, balance" in panel.inner_text()
    assert "You can pay the balance from" in panel.inner_text()
    assert panel.get_by_role("button", name="Pay the balance").count() == 0

    # Ten days later the window is open: the sweep reminds the buyer once.
    shop.move_clock(days=10, hours=1)
    assert shop.run_sweeps().get("presale_balance_open_reminders") == 1
    reminders = shop.outbox(kind="presale_balance_open", order=order.number)
    assert len(reminders) == 1 and reminders[0].to_address == buyer.email
    assert shop.run_sweeps().get("presale_balance_open_reminders") == 0
    assert len(shop.outbox(kind="presale_balance_open", order=order.number)) == 1  # once only
    page.goto("/account/messages")
    assert "the balance can be paid now" in page.text()
    page.screenshot("reminder")

    # The balance is paid from the order page.
    page.goto(f"/orders/{order.number}")
    balance_due = order.total - 5000
    button = page.page.locator(".presale-order").get_by_role("button", name="Pay the balance")
    page.submit(button)
    assert "/pay/" in page.page.url
    page.submit(page.page.get_by_role("button", name="Pay now (test)"))
    order = shop.order(order.number)
    assert order.status.value == "paid" and order.paid_total == order.total
    assert balance_due > 0
    page.goto(f"/orders/{order.number}")
    assert "Deposit and balance paid." in page.text()
    page.screenshot("balance-paid")

    # Staff ship it from the admin (their own browser).
    staff = tab()
    staff.sign_in(*shop.demo_staff)
    staff.goto(f"/admin/orders/{order.number}")
    staff.page.get_by_label("Carrier").select_option(index=0)
    staff.page.get_by_label("Tracking number").fill("SF2026111100")
    staff.submit(staff.page.get_by_role("button", name="Mark as shipped"))
    assert shop.order(order.number).status.value == "shipped"

    # The buyer confirms receipt.
    page.goto(f"/orders/{order.number}")
    page.submit(page.page.get_by_role("button", name="Confirm receipt"))
    assert shop.order(order.number).status.value == "completed"
    page.assert_clean()
    staff.assert_clean()

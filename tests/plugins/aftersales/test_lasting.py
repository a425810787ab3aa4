"""Open requests outlive the plugin's switch: they still pause auto-confirm, hold the parcel and
close with their order while the seller has after-sales switched off (lasting hooks)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from plugins.aftersales import lasting
from storefront.clock import utcnow
from storefront.errors import TransitionVetoed
from storefront.extensions import db
from storefront.orders import services as order_services
from storefront.orders.models import Order
from storefront.orders.status import OrderStatus
from storefront.plugins.host import get_host

from .conftest import (case_events, fresh_case, new_client, open_case, paid_order, reload, set_enabled, shipped_order,
                       sign_in)


@pytest.fixture(autouse=True)
def _manual(enabled):
    set_enabled(True, auto_approve_unshipped=False, auto_approve_no_reason_returns=False)


def _due_for_auto_confirm(order):
    db.session.execute(update(Order).where(Order.id == order.id)
                       .values(auto_confirm_at=utcnow() - timedelta(hours=1)))
    db.session.commit()


def _core_sweep():
    from storefront.orders.sweeps import run_all_sweeps

    return run_all_sweeps(utcnow())


def test_hooks_are_registered_as_lasting(app):
    host = get_host()
    assert host.pm.get_plugin("aftersales:lasting") is lasting
    names = {impl.plugin_name for impl in host.pm.hook.transition_guard.get_hookimpls()}
    assert "aftersales:lasting" in names and "aftersales" not in names


def test_open_case_pauses_auto_confirm_while_disabled(app, buyer):
    order = shipped_order(buyer)
    case = open_case(order, buyer)
    set_enabled(False)
    _due_for_auto_confirm(order)
    _core_sweep()
    assert reload(order).status == OrderStatus.SHIPPED  # not completed under an open request
    with pytest.raises(TransitionVetoed):
        order_services.auto_confirm(reload(order))
    # Once the request is settled (here: withdrawn) the order completes as usual.
    from plugins.aftersales import cases

    set_enabled(True)
    cases.cancel_case(fresh_case(case), buyer)
    set_enabled(False)
    _due_for_auto_confirm(order)
    order_services.auto_confirm(reload(order))
    assert reload(order).status == OrderStatus.COMPLETED


def test_unshipped_refund_request_holds_the_parcel_while_disabled(app, buyer, staff):
    order = paid_order(buyer)
    open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    set_enabled(False)
    with pytest.raises(TransitionVetoed):
        order_services.ship_order(reload(order), staff, "SF Express", "SF12345678")
    assert reload(order).status == OrderStatus.PAID


def test_order_closing_closes_its_requests_while_disabled(app, buyer, staff):
    order = paid_order(buyer)
    case = open_case(order, buyer, kind="refund_unshipped", reason="changed_mind", lines=None)
    set_enabled(False)
    order_services.cancel_by_seller(reload(order), staff, "out_of_stock")
    case = fresh_case(case)
    assert case.status == "closed" and case.closed_at
    assert [k for k, _a in case_events(case)][-1] == "closed_with_order"


def test_orders_without_requests_are_untouched_while_disabled(app, buyer):
    order = shipped_order(buyer)
    set_enabled(False)
    _due_for_auto_confirm(order)
    _core_sweep()
    assert reload(order).status == OrderStatus.COMPLETED


def test_disabled_plugin_still_hides_its_pages(app, buyer, staff):
    """Lasting hooks are not lasting routes: the request pages stay 404 while switched off."""
    order = shipped_order(buyer)
    case = open_case(order, buyer)
    set_enabled(False)
    c = new_client(app)
    sign_in(c, buyer)
    assert c.get(f"/account/refunds/{case.number}").status_code == 404
    s = new_client(app)
    sign_in(s, staff)
    assert s.post(f"/admin/aftersales/{case.number}/approve", data={}).status_code == 404
    assert fresh_case(case).status == "requested"

"""``promotion_claimable``: what the coupons plugin tells other plugins (promo popups) through the hook."""
from __future__ import annotations

from datetime import timedelta

from plugins.coupons import admin_services, services
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.plugins.host import get_host
from storefront.settings_models import PluginState
from tests.factories import make_user

from .conftest import make_coupon, set_state


def ask(ref):
    get_host().forget_states()  # a new request reads the plugin states again
    return get_host().hook.promotion_claimable(ref=ref)


def test_answers_for_claimable_coupon_codes_only(app, enabled):
    make_coupon(code="D11-10", claimable=True, claim_quota=2)
    make_coupon(code="TYPED")  # not claimable: not a claim promotion
    assert ask("coupon:D11-10") is True
    assert ask("coupon: d11-10 ") is True  # same normalisation as typed codes
    assert ask("coupon:TYPED") is None and ask("coupon:NOSUCH") is None
    assert ask("presale:7") is None and ask(None) is None


def test_last_claim_bumps_the_version_and_the_answer_turns_false(app, enabled):
    coupon = make_coupon(code="D11-10", claimable=True, claim_quota=2, per_buyer_limit=1)
    assert ask("coupon:D11-10") is True
    version = db.session.get(PluginState, "coupons").version
    services.claim(make_user(), coupon.id)
    db.session.expire_all()
    assert db.session.get(PluginState, "coupons").version == version  # quota left: nothing to invalidate
    assert ask("coupon:D11-10") is True
    services.claim(make_user(), coupon.id)
    db.session.expire_all()
    assert db.session.get(PluginState, "coupons").version == version + 1
    assert ask("coupon:D11-10") is False


def test_paused_or_ended_coupon_is_not_claimable(app, enabled):
    coupon = make_coupon(code="D11-10", claimable=True)
    assert ask("coupon:D11-10") is True
    admin_services.set_active(coupon.id, False)
    assert ask("coupon:D11-10") is False
    admin_services.update_coupon(coupon.id, {"active": True, "ends_at": utcnow() - timedelta(minutes=1),
                                             "starts_at": utcnow() - timedelta(days=1)})
    assert ask("coupon:D11-10") is False


def test_disabled_coupons_plugin_does_not_answer(app, enabled):
    make_coupon(code="D11-10", claimable=True)
    set_state("coupons", False)
    assert ask("coupon:D11-10") is None

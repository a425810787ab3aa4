"""The limiter's before-request pass: skipped while nothing applies there, run in full otherwise.

ShopLimiter (storefront.extensions) on small apps of its own, so that a default or
application limit set here never reaches the shop's one limiter. The shop's own 429s
(login, coupon codes, lookups) are tested end to end where those pages are.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Blueprint, Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from storefront.extensions import ShopLimiter


def _app(**limiter_options) -> tuple[Flask, ShopLimiter]:
    app = Flask(__name__)
    limiter = ShopLimiter(get_remote_address, app=app, storage_uri="memory://", **limiter_options)

    @app.get("/plain")
    def plain():
        return "plain"

    @app.get("/limited")
    @limiter.limit("2/minute")
    def limited():
        return "limited"

    @app.get("/block")
    def block():
        with limiter.shared_limit("1/minute", scope="block"):
            return "block"

    return app, limiter


@pytest.fixture
def passes(monkeypatch) -> list:
    """The (callable_name, in_middleware) of every check that reached Flask-Limiter's own."""
    seen = []
    real = Limiter._check_request_limit

    def check(self, callable_name=None, in_middleware=True):
        seen.append((callable_name, in_middleware))
        return real(self, callable_name=callable_name, in_middleware=in_middleware)

    monkeypatch.setattr(Limiter, "_check_request_limit", check)
    return seen


def _statuses(client, path: str, times: int) -> list[int]:
    return [client.get(path).status_code for _ in range(times)]


def test_without_default_or_application_limits_only_the_routes_own_are_checked(passes):
    app, _limiter = _app()
    client = app.test_client()
    assert _statuses(client, "/plain", 5) == [200] * 5
    assert passes == []  # nothing before the view
    assert _statuses(client, "/limited", 3) == [200, 200, 429]
    assert _statuses(client, "/block", 2) == [200, 429]
    assert passes and all(not in_middleware for _name, in_middleware in passes)


def test_a_deployments_default_limit_still_applies_to_every_page(passes):
    app, _limiter = _app(default_limits=["3/minute"])
    client = app.test_client()
    assert _statuses(client, "/plain", 4) == [200, 200, 200, 429]
    assert (None, True) in passes


def test_application_and_blueprint_limits_still_apply():
    app, limiter = _app(application_limits=["4/minute"])
    assert _statuses(app.test_client(), "/plain", 5) == [200] * 4 + [429]

    app = Flask(__name__)
    limiter = ShopLimiter(get_remote_address, app=app, storage_uri="memory://")
    shop = Blueprint("shop", __name__)

    @shop.get("/page")
    def page():
        return "page"

    limiter.limit("2/minute")(shop)
    app.register_blueprint(shop)
    assert _statuses(app.test_client(), "/page", 3) == [200, 200, 429]


def test_a_limiter_of_another_make_gets_the_full_pass(monkeypatch):
    """Attributes this Flask-Limiter does not have count as limits to apply."""
    _, limiter = _app()
    assert limiter._nothing_before_views()
    monkeypatch.setattr(limiter, "limit_manager", SimpleNamespace(_application_limits=[], _blueprint_limits={}))
    assert not limiter._nothing_before_views()
    monkeypatch.delattr(limiter, "_storage_dead")
    monkeypatch.setattr(limiter, "limit_manager", SimpleNamespace(_application_limits=[], _default_limits=[],
                                                                  _blueprint_limits={}))
    assert not limiter._nothing_before_views()

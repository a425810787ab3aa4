"""Staff stock changes under concurrency: conditional updates, nothing lost, never negative."""
from __future__ import annotations

from types import SimpleNamespace

from storefront.audit.models import AuditEntry
from storefront.catalog import services
from storefront.catalog.models import Sku
from storefront.errors import ServiceError
from storefront.extensions import db

from ..races import run_threads
from .helpers import make_full_product


def test_concurrent_adjustments_are_all_applied(app):
    sku_id = make_full_product(skus=(("A", "S", 100, 10),)).skus[0].id
    actor = SimpleNamespace(id=None, email="staff@example.com")
    results = run_threads(app, 8, lambda i: services.adjust_stock(actor, sku_id, mode="adjust", quantity=1))
    assert all(isinstance(r, int) for r in results), results
    assert db.session.get(Sku, sku_id).stock == 18
    assert db.session.query(AuditEntry).filter_by(action="sku.stock").count() == 8


def test_concurrent_removals_never_go_below_zero(app):
    sku_id = make_full_product(skus=(("A", "S", 100, 3),)).skus[0].id
    actor = SimpleNamespace(id=None, email="staff@example.com")
    results = run_threads(app, 8, lambda i: services.adjust_stock(actor, sku_id, mode="adjust", quantity=-1))
    assert sum(1 for r in results if isinstance(r, int)) == 3
    assert all(isinstance(r, (int, ServiceError)) for r in results), results
    assert db.session.get(Sku, sku_id).stock == 0


def test_concurrent_sets_from_the_same_view_let_one_win(app):
    sku_id = make_full_product(skus=(("A", "S", 100, 5),)).skus[0].id
    actor = SimpleNamespace(id=None, email="staff@example.com")
    results = run_threads(app, 6, lambda i: services.adjust_stock(actor, sku_id, mode="set",
                                                                quantity=100 + i, expected=5))
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1
    assert all(isinstance(r, (int, ServiceError)) for r in results), results
    assert db.session.get(Sku, sku_id).stock == winners[0]

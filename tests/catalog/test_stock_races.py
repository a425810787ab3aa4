"""Staff stock changes under concurrency: conditional updates, nothing lost, never negative."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from storefront.audit.models import AuditEntry
from storefront.catalog import services
from storefront.catalog.models import Sku
from storefront.errors import ServiceError
from storefront.extensions import db

from .helpers import make_full_product


def _run_in_threads(app, count, work):
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(i):
        with app.app_context():
            barrier.wait(timeout=120)
            try:
                results[i] = work(i)
            except ServiceError as exc:
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_adjustments_are_all_applied(app):
    sku_id = make_full_product(skus=(("A", "S", 100, 10),)).skus[0].id
    actor = SimpleNamespace(id=None, email="staff@example.com")
    results = _run_in_threads(app, 8, lambda i: services.adjust_stock(actor, sku_id, mode="adjust", quantity=1))
    assert all(isinstance(r, int) for r in results), results
    db.session.rollback()  # end the older read snapshot (SQLite WAL) before checking
    assert db.session.get(Sku, sku_id).stock == 18
    assert db.session.query(AuditEntry).filter_by(action="sku.stock").count() == 8


def test_concurrent_removals_never_go_below_zero(app):
    sku_id = make_full_product(skus=(("A", "S", 100, 3),)).skus[0].id
    actor = SimpleNamespace(id=None, email="staff@example.com")
    results = _run_in_threads(app, 8, lambda i: services.adjust_stock(actor, sku_id, mode="adjust", quantity=-1))
    assert sum(1 for r in results if isinstance(r, int)) == 3
    db.session.rollback()  # end the older read snapshot (SQLite WAL) before checking
    assert db.session.get(Sku, sku_id).stock == 0


def test_concurrent_sets_from_the_same_view_let_one_win(app):
    sku_id = make_full_product(skus=(("A", "S", 100, 5),)).skus[0].id
    actor = SimpleNamespace(id=None, email="staff@example.com")
    results = _run_in_threads(app, 6, lambda i: services.adjust_stock(actor, sku_id, mode="set",
                                                                       quantity=100 + i, expected=5))
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1
    db.session.rollback()  # end the older read snapshot (SQLite WAL) before checking
    assert db.session.get(Sku, sku_id).stock == winners[0]

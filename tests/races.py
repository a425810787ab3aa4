"""Real concurrency for race tests: work started in several threads at once."""
from __future__ import annotations

import threading

from storefront.extensions import db


def run_threads(app, n: int, work) -> list:
    """Run ``work(i)`` in ``n`` threads released together, each in its own app context
    (and database session); returns each result, or the exception it raised."""
    barrier = threading.Barrier(n, timeout=120)
    results: list = [None] * n

    def target(i):
        with app.app_context():
            barrier.wait()
            try:
                results[i] = work(i)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.rollback()  # end the caller's older read snapshot (SQLite WAL) before it checks
    return results

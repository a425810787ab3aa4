"""Real concurrency for race tests: work started in several threads at once."""
from __future__ import annotations

import threading
from contextlib import contextmanager

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


def run_each_holding_its_first(app, prefix: str | list[str], works: list) -> list:
    """Run ``works`` (two callables) in two threads; each, once its first statement starting
    with ``prefix`` (or with its own of two prefixes) has run, holds that row lock until the
    other has run its own first one (or 2 s have passed, when the other is waiting on this
    one's lock).

    Two transactions taking the same rows in opposite orders then deadlock for certain
    (PostgreSQL aborts one); taken in one order, the second simply waits its turn."""
    from sqlalchemy import event

    prefixes = [prefix, prefix] if isinstance(prefix, str) else list(prefix)
    took_first = [threading.Event(), threading.Event()]
    who = threading.local()

    def after_execute(_conn, _cursor, statement, *_args):
        index = getattr(who, "index", None)
        if index is None or not statement.startswith(prefixes[index]) or took_first[index].is_set():
            return
        took_first[index].set()
        took_first[1 - index].wait(timeout=2)

    def work(index):
        who.index = index
        return works[index]()

    event.listen(db.engine, "after_cursor_execute", after_execute)
    try:
        return run_threads(app, 2, work)
    finally:
        event.remove(db.engine, "after_cursor_execute", after_execute)


def start_thread(app, name: str, work, results: dict, done: threading.Event | None = None) -> threading.Thread:
    """Start ``work()`` in a daemon thread called ``name`` with its own app context; its
    result (or the exception it raised) lands in ``results[name]``, then ``done`` is set."""
    def target():
        with app.app_context():
            try:
                results[name] = work()
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                results[name] = exc
            finally:
                db.session.remove()
                if done is not None:
                    done.set()

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def signal_when_queued(monkeypatch, thread_name: str) -> threading.Event:
    """An event set when the thread ``thread_name`` starts waiting in SQLite's writers' queue
    (storefront/writer_queue.py), i.e. reaches its write transaction's first statement."""
    from storefront import writer_queue

    queued = threading.Event()
    real_acquire = writer_queue.acquire

    def acquire(path):
        if threading.current_thread().name == thread_name:
            queued.set()
        real_acquire(path)

    monkeypatch.setattr(writer_queue, "acquire", acquire)
    return queued


@contextmanager
def write_held_open(app, path: str, write, read):
    """A request to ``path``, in its own thread, that runs ``write()`` and then ``read()``
    and keeps its transaction open while the ``with`` block runs (then rolls it back).
    Yields the list that receives what ``read()`` returned, filled before the block starts:
    the block checks what other requests see meanwhile."""
    read_inside, done = threading.Event(), threading.Event()
    seen_inside: list = []

    def request_with_open_write():
        with app.app_context(), app.test_request_context(path):
            try:
                write()
                seen_inside.append(read())
                read_inside.set()
                done.wait(30)
            finally:
                db.session.rollback()
                db.session.remove()

    thread = threading.Thread(target=request_with_open_write)
    thread.start()
    try:
        assert read_inside.wait(30)
        yield seen_inside
    finally:
        done.set()
        thread.join(30)

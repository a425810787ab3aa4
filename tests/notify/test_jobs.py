"""The Huey periodic tasks call through to the sweep and the outbox delivery (the worker
process itself runs in tests/notify/test_worker_process.py)."""
from __future__ import annotations

from huey import MemoryHuey

from storefront.extensions import db
from storefront.jobs.queue import make_huey, register_tasks
from storefront.notify.models import OutboxMessage


def test_tests_use_an_immediate_memory_queue(app):
    huey = app.extensions["storefront"].huey
    assert isinstance(huey, MemoryHuey) and huey.immediate


def test_periodic_tasks_are_registered_once(app):
    huey = app.extensions["storefront"].huey
    first = register_tasks(huey, lambda: app)
    assert register_tasks(huey, lambda: app) is first
    periodic = {task.__name__ for task in huey._registry._periodic_tasks}
    assert {"storefront.sweep_deadlines", "storefront.deliver_notifications"} <= periodic


def test_delivery_task_sends_the_outbox(app):
    db.session.add(OutboxMessage(kind="order_paid", to_address="a@example.com", subject="s", body="b"))
    db.session.commit()
    _sweep, deliver = register_tasks(app.extensions["storefront"].huey, lambda: app)
    deliver()  # enqueued and run at once by the immediate queue (periodic tasks keep no result)
    db.session.rollback()
    assert db.session.execute(db.select(OutboxMessage.status)).scalar_one() == "sent"


def test_sweep_task_runs_every_sweep_hook(app, monkeypatch):
    calls = []

    def fake_run_all_sweeps(now=None):
        calls.append(now)
        return {"closed_unpaid": 2}

    monkeypatch.setattr("storefront.orders.sweeps.run_all_sweeps", fake_run_all_sweeps)
    sweep, _deliver = register_tasks(app.extensions["storefront"].huey, lambda: app)
    sweep()
    assert calls == [None]
    assert sweep.call_local() == {"closed_unpaid": 2}


def test_default_queue_is_sqlite_in_the_instance_folder(app, tmp_path):
    class FakeApp:
        instance_path = str(tmp_path)
        config = {"STOREFRONT_HUEY_IMMEDIATE": False, "STOREFRONT_REDIS_URL": None}

    huey = make_huey(FakeApp())
    assert type(huey).__name__ == "SqliteHuey"
    assert huey.storage.filename == str(tmp_path / "huey.db")


def test_flask_storefront_deliver(app):
    db.session.add(OutboxMessage(kind="order_paid", to_address="a@example.com", subject="s", body="b"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["storefront", "deliver"])
    assert result.exit_code == 0 and "delivered: 1" in result.output

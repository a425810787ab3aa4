"""The real worker (``flask storefront worker`` in its own process, its queue a SQLite file)
against a real SMTP server: a committed message is sent on the web side's request, not at
the next minute's pass, and SIGTERM lets a running delivery pass finish."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from storefront.database import write_transaction
from storefront.extensions import db
from storefront.notify.models import OutboxMessage
from storefront.notify.prompt import request_prompt_delivery
from tests.conftest import make_test_app
from tests.factories import make_user
from tests.notify.helpers import eventually

from ..checkout.helpers import fresh
from .test_smtp import Mailbox, _free_port

PROJECT = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds; far above any step here (the worker starts in 2-3 s), so only a real stall trips it


class SlowMailbox(Mailbox):
    """Takes ``delay`` seconds over each message, as a busy mail server does."""

    delay = 0.0

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def mailbox():
    box = SlowMailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


class Worker:
    """``flask storefront worker`` in a child process; its log is collected as it comes."""

    def __init__(self, config: dict, instance: Path):
        script = instance / "worker_app.py"
        script.write_text(
            "import json\nfrom storefront import create_app\n"
            f"app = create_app(json.loads({json.dumps(json.dumps(config))}), instance_path={str(instance)!r})\n")
        env = {**os.environ, "PYTHONPATH": f"{PROJECT}{os.pathsep}{instance}"}
        env = {key: value for key, value in env.items() if not key.startswith("STOREFRONT_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "worker_app", "storefront", "worker", "--workers", "2"],
            cwd=instance, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(WAIT)


@pytest.fixture
def shop(app, database_url, tmp_path, mailbox):
    """A web app and a worker process sharing the test database and a SQLite queue file."""
    box, port = mailbox
    config = {"STOREFRONT_MAIL_BACKEND": "smtp", "STOREFRONT_SMTP_HOST": "127.0.0.1", "STOREFRONT_SMTP_PORT": port,
              "STOREFRONT_MAIL_FROM": "shop@example.com", "STOREFRONT_HUEY_IMMEDIATE": False}
    web = make_test_app(database_url, str(tmp_path), STOREFRONT_DELIVERY_PROMPT=True, **config)
    worker = Worker({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test-secret-key",
                     "STOREFRONT_LOAD_ENTRY_POINTS": False, **config}, tmp_path)
    try:
        assert eventually(lambda: "consumer started" in worker.log or worker.process.poll() is not None, WAIT)
        assert worker.process.poll() is None, worker.log
        yield web, worker, box
    finally:
        worker.stop()
        with web.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_reset_link_is_sent_on_request_not_at_the_next_minute(app, shop):
    web, worker, box = shop
    with web.app_context():
        user = make_user()
        email = user.email
    assert web.test_client().post("/account/password/forgot", data={"email": email}).status_code == 302
    assert eventually(lambda: any(to == email for _n, to, _b in box.received), WAIT), worker.log
    # Sent by the pass the web side asked for: the queue file carried the request to the worker.
    assert "storefront.deliver_soon" in worker.log


def test_sigterm_lets_the_running_pass_finish(app, shop):
    web, worker, box = shop
    box.delay = 0.15
    with web.app_context(), web.test_request_context():
        with write_transaction():
            db.session.add_all(OutboxMessage(kind="order_paid", to_address=f"buyer{i}@example.com",
                                             subject=f"Order {i}", body="Paid.") for i in range(20))
            request_prompt_delivery()
    assert eventually(lambda: len(box.received) >= 2, WAIT), worker.log
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(WAIT) == 0, worker.log
    # The pass finished and recorded every message: none left "sending" for a lease to run out.
    assert len(box.received) == 20
    fresh()
    assert set(db.session.execute(select(OutboxMessage.status)).scalars()) == {"sent"}

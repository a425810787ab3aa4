"""A real gunicorn under load, killed at random moments (the crash-consistency test's machinery).

``Server`` starts ``gunicorn tests.security.crash_app:app`` with two sync
workers in its own process group, finds its workers through /proc, kills one
with SIGKILL (gunicorn respawns it) or the whole server (then starts it
again). ``Load`` runs buyer and staff threads against the JSON API over
plain HTTP (a new connection per request, bearer tokens): add to cart,
check out, pay, cancel (a paid order is refunded), and staff ship or cancel
for a seller reason. A request cut off by a kill is a connection error;
checkout and payment are retried with the same idempotency key, as a client
would. Every HTTP status is counted; 5xx bodies are kept for the report.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = {"name": "Li Lei", "phone": "13800138000", "province": "Guangdong", "city": "Shenzhen",
           "district": "Nanshan", "line1": "1 Keji Road", "postcode": "518000"}
# A cut-off request: the worker died under it, or the server was down for a moment.
CUT = (ConnectionError, http.client.HTTPException, socket.timeout, TimeoutError, OSError)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, database_url: str, instance: Path, log: Path, workers: int = 2):
        self.port = free_port()
        self.env = {**os.environ, "CRASH_DATABASE_URL": database_url, "CRASH_INSTANCE": str(instance),
                    "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        for key in ("STOREFRONT_DATABASE_URL", "STOREFRONT_REDIS_URL"):
            self.env.pop(key, None)
        self.workers = workers
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 90) -> None:
        cmd = [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
               "--timeout", "60", "--graceful-timeout", "5",
               # Workers fork from a master that imported the app (no connection is opened at import):
               # a killed worker is back at once instead of importing the shop again.
               "--preload", "tests.security.crash_app:app"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                status, _ = request(self.port, "GET", "/api/v1/openapi.json", timeout=5)
                if status == 200 and len(self.worker_pids()) == self.workers:
                    return
            except CUT:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def kill_worker(self, rng: random.Random) -> bool:
        pids = self.worker_pids()
        if not pids:
            return False
        try:
            os.kill(rng.choice(pids), signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def kill_all(self) -> None:
        """SIGKILL the master and its workers at once (a power cut, an OOM kill of the box)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def request(port: int, method: str, path: str, body: dict | None = None, token: str | None = None,
            timeout: float = 60) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"raw": raw[:500].decode(errors="replace")}
        return response.status, data
    finally:
        conn.close()


class Load:
    def __init__(self, server: Server, buyers: dict[int, str], staff_token: str, skus: list[int], seed: int):
        self.server = server
        self.buyers = buyers
        self.staff_token = staff_token
        self.skus = skus
        self.seed = seed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.errors: list[str] = []  # 5xx responses
        self.cut = 0
        self.done: Counter = Counter()  # checkouts, payments, cancels...

    # -- one HTTP call, counted --------------------------------------------------------------
    def call(self, method: str, path: str, body=None, token=None) -> tuple[int, dict] | None:
        try:
            status, data = request(self.server.port, method, path, body, token)
        except CUT:
            with self.lock:
                self.cut += 1
            time.sleep(0.25)  # the worker is being respawned, or the server restarted
            return None
        with self.lock:
            self.statuses[status] += 1
            if status >= 500:
                self.errors.append(f"{method} {path} -> {status}: {json.dumps(data)[:300]}")
        return status, data

    def retried(self, method: str, path: str, body=None, token=None, attempts: int = 12):
        """Idempotent calls (same key, same payment) are repeated until an answer arrives."""
        for _ in range(attempts):
            if (answer := self.call(method, path, body, token)) is not None:
                return answer
        return None

    # -- actors -------------------------------------------------------------------------------
    def buyer(self, user_id: int, token: str) -> None:
        rng = random.Random(self.seed * 1000 + user_id)
        while not self.stop.is_set():
            sku = rng.choice(self.skus)
            if self.call("POST", "/api/v1/cart/lines", {"sku_id": sku, "quantity": rng.randint(1, 2)}, token) is None:
                continue
            key = uuid.uuid4().hex
            answer = self.retried("POST", "/api/v1/checkout",
                                  {"idempotency_key": key, "delivery_code": "courier", **ADDRESS}, token)
            if answer is None or answer[0] not in (200, 201):
                for sku_id in self.skus:  # a refused cart (sold out, stale) is emptied
                    self.call("DELETE", f"/api/v1/cart/lines/{sku_id}", None, token)
                continue
            payment = answer[1]["payment"]
            self.count("checkouts")
            if rng.random() < 0.85:
                paid = self.retried("POST", f"/api/v1/payments/{payment['reference']}/pay-test", None, token)
                if paid is not None and paid[0] == 200:
                    self.count("payments")
                    if rng.random() < 0.2:  # a replayed payment changes nothing
                        self.retried("POST", f"/api/v1/payments/{payment['reference']}/pay-test", None, token)
            if rng.random() < 0.35:
                for order in payment["orders"]:
                    done = self.retried("POST", f"/api/v1/orders/{order['number']}/cancel", None, token)
                    if done is not None and done[0] == 200:
                        self.count("buyer_cancels")

    def staff(self) -> None:
        rng = random.Random(self.seed)
        while not self.stop.is_set():
            answer = self.call("GET", "/api/v1/staff/orders?status=paid&limit=20", None, self.staff_token)
            if answer is None or answer[0] != 200:
                continue
            items = answer[1].get("orders") or []
            for order in items[:5]:
                number = order["number"]
                if rng.random() < 0.5:
                    done = self.call("POST", f"/api/v1/staff/orders/{number}/cancel",
                                     {"reason": "out_of_stock", "note": "crash test"}, self.staff_token)
                    kind = "staff_cancels"
                else:
                    done = self.call("POST", f"/api/v1/staff/orders/{number}/ship",
                                     {"carrier": "SF Express", "tracking_number": f"SF{rng.randrange(10**9):09d}"},
                                     self.staff_token)
                    kind = "ships"
                if done is not None and done[0] == 200:
                    self.count(kind)
            time.sleep(0.05)

    def answered(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def count(self, what: str) -> None:
        with self.lock:
            self.done[what] += 1

    def threads(self) -> list[threading.Thread]:
        out = [threading.Thread(target=self.buyer, args=(uid, token), daemon=True) for uid, token in self.buyers.items()]
        out.append(threading.Thread(target=self.staff, daemon=True))
        return out

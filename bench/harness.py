"""Database set-up, the gunicorn server and wrk runs for ``bench/run.py``."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
LUA = Path(__file__).resolve().parent / "lua"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "storefront_bench"


def wrk_path() -> str | None:
    return shutil.which("wrk")


def postgres_reachable(admin_url: str = PG_ADMIN_URL) -> bool:
    try:
        import psycopg

        with psycopg.connect(admin_url, connect_timeout=3):
            return True
    except Exception:
        return False


def fresh_database(kind: str, workdir: Path, pg_db: str = PG_BENCH_DB) -> str:
    """An empty database; returns its SQLAlchemy URL."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    empty_postgres_database(PG_ADMIN_URL, pg_db)
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_db}"


def ensure_postgres_database(admin_url: str, name: str) -> bool:
    """Database ``name`` on ``admin_url``'s server, created if missing; whether it was."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def empty_postgres_database(admin_url: str, name: str) -> None:
    """Database ``name`` on ``admin_url``'s server, empty: created if missing, else its other
    connections ended and its ``public`` schema dropped and made anew.

    Not ``DROP DATABASE``: PostgreSQL takes a checkpoint for it, which waits for every dirty
    page of the server to reach the disk -- 10 to 50 s while the test suite's other worker
    was writing, for one scratch database."""
    if ensure_postgres_database(admin_url, name):
        return
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    with psycopg.connect(make_conninfo(**{**conninfo_to_dict(admin_url), "dbname": name}), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def bench_env(url: str, workdir: Path, secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "STOREFRONT_DATABASE_URL": url,
        "STOREFRONT_SECRET_KEY": secret,
        "BENCH_INSTANCE": str(workdir / "instance"),
        "PYTHONPATH": str(PROJECT),
        "FLASK_APP": "bench.server:shop",
    })
    return env


def flask(env: dict[str, str], *args: str, log: Path) -> None:
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ flask {' '.join(args)}\n")
        fh.flush()
        subprocess.run([str(VENV_BIN / "flask"), *args], cwd=PROJECT, env=env, check=True, stdout=fh,
                       stderr=subprocess.STDOUT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A real gunicorn serving ``bench.server:app`` on 127.0.0.1: sync workers, or gthread ones
    with ``threads`` > 1."""

    env: dict[str, str]
    workers: int
    log: Path
    threads: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._fh = open(self.log, "a", encoding="utf-8")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--workers", str(self.workers),
             *(["--worker-class", "gthread", "--threads", str(self.threads)] if self.threads > 1
               else ["--worker-class", "sync"]),
             "--bind", f"127.0.0.1:{self.port}", "--timeout", "120", "--backlog", "2048",
             "--error-logfile", "-", "bench.server:app"],
            cwd=PROJECT, env=self.env, stdout=self._fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/_ref/hello", timeout=2) as resp:
                    if resp.status == 200 and len(self.worker_pids()) == self.workers:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer; see {self.log}")

    def describe(self) -> str:
        if self.threads > 1:
            return f"{self.workers} gthread workers x {self.threads} threads"
        return f"{self.workers} sync workers"

    def wait_idle(self, timeout: float = 120) -> float:
        """Wait until the workers have drained what the last run left queued.

        wrk stops at its deadline, but requests already accepted (up to one per
        connection, far more work than that at 64 connections) are still
        processed by the sync workers; the next scenario must not pay for them.
        Returns the seconds waited.
        """
        started = time.monotonic()
        quick = 0
        while time.monotonic() - started < timeout and quick < 3:
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/_ref/hello", timeout=timeout) as resp:
                    resp.read()
            except OSError:
                pass
            quick = quick + 1 if time.monotonic() - t0 < 0.05 else 0
            time.sleep(0.05)
        return time.monotonic() - started

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return sizes

    def stop(self) -> None:
        terminate(self.process, timeout=30)
        if getattr(self, "_fh", None):
            self._fh.close()


def terminate(process: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM (gunicorn and the worker both finish what they are doing), then SIGKILL after ``timeout``."""
    if process and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_wrk(url: str, script: str, args: list[str], *, threads: int, connections: int, duration: float,
            timeout_s: int = 30, log: Path | None = None) -> dict:
    """Run wrk with one of the Lua scripts and return the JSON its ``done()`` printed."""
    cmd = [wrk_path() or "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
           "--timeout", f"{timeout_s}s", "-s", str(LUA / script), url, "--", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout_s + 60)
    if log is not None:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr + "\n")
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    raise RuntimeError(f"wrk gave no result (exit {proc.returncode}): {proc.stderr[-500:]}")


def profile_workers(server: Server, seconds: float, out: Path) -> subprocess.Popen | None:
    """Start py-spy on the gunicorn master and its workers (collapsed stacks); None if py-spy is missing."""
    spy = shutil.which("py-spy") or (str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else None)
    if spy is None or server.process is None:
        return None
    return subprocess.Popen([spy, "record", "--subprocesses", "--format", "raw", "--rate", "200",
                             "--duration", str(max(1, round(seconds))), "--output", str(out),
                             "--pid", str(server.process.pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class BackgroundWorker:
    """``flask storefront worker`` beside the server during the flash, as on a sale day
    (``--worker``): its delivery passes share the database, and SQLite's write lock, with
    the buyers checking out."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        self._fh = open(self.log.with_name("worker.log"), "a", encoding="utf-8")
        self.process = subprocess.Popen([str(VENV_BIN / "flask"), "storefront", "worker", "--workers", "2"],
                                        cwd=PROJECT, env=self.env, stdout=self._fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "consumer started" not in self.log.with_name("worker.log").read_text(encoding="utf-8"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {self.log.with_name('worker.log')}")
            time.sleep(0.1)

    def stop(self) -> None:
        terminate(self.process, timeout=60)  # a running delivery pass may take its 45 s
        if getattr(self, "_fh", None):
            self._fh.close()

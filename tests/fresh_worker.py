"""Run a script as a fresh worker process would: a new interpreter, the shop's code, a
SQLite database of its own. For what must hold in a worker whose first work it is
(mappers set up on first use, caches empty)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def run_fresh(script: str, tmp_path) -> str:
    """``script``'s standard output; ``sys.argv[1]`` in it is an instance folder."""
    env = {**os.environ, "STOREFRONT_DATABASE_URL": f"sqlite:///{tmp_path / 'first.db'}",
           "STOREFRONT_SECRET_KEY": "s" * 40, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "instance")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def run_as_another_worker(app, database_url: str, imports: str, body: str, *args, **overrides) -> None:
    """Run ``body`` in a second process on the same database and instance folder as ``app``,
    as another gunicorn worker of this host would: a new interpreter, the test app's
    configuration (``overrides`` added), inside an app context. ``imports`` are its import
    lines; ``sys.argv[1:]`` in ``body`` are ``args`` as strings. The caller commits first."""
    script = (f"import sys\nfrom tests.conftest import make_test_app\n{imports}\n"
              f"app = make_test_app(sys.argv[1], sys.argv[2], **{overrides!r})\n"
              "sys.argv[1:] = sys.argv[3:]\n"
              "with app.app_context():\n" + "".join(f"    {line}\n" for line in body.splitlines()))
    subprocess.run([sys.executable, "-c", script, database_url, app.instance_path, *map(str, args)],
                   cwd=PROJECT, check=True, env={**os.environ, "PYTHONPATH": str(PROJECT)}, timeout=120)

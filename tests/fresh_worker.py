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

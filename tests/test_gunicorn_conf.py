"""The project's gunicorn.conf.py: gunicorn finds it, and a worker freezes what it loaded."""
from __future__ import annotations

import gc
import runpy
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_gunicorn_started_in_the_project_folder_reads_it():
    gunicorn = Path(sys.executable).with_name("gunicorn")
    printed = subprocess.run([str(gunicorn), "--print-config", "wsgi:app"], cwd=PROJECT, capture_output=True,
                             text=True, timeout=60, check=True).stdout
    settings = {key.strip(): value.strip() for key, _, value in (line.partition("=") for line in printed.splitlines())}
    assert settings["config"] == "./gunicorn.conf.py"
    assert settings["post_worker_init"] == "<post_worker_init()>"


def test_a_worker_freezes_the_objects_it_loaded():
    hooks = runpy.run_path(str(PROJECT / "gunicorn.conf.py"))
    loaded = [{"stands for": "the app the worker has just loaded"}]
    assert any(obj is loaded for obj in gc.get_objects())
    try:
        hooks["post_worker_init"](worker=None)
        # Frozen: no collection looks at it again.
        assert gc.get_freeze_count() > 0
        assert not any(obj is loaded for obj in gc.get_objects())
    finally:
        gc.unfreeze()

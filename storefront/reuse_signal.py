"""The files by which one worker tells the others of its host that a per-worker copy went stale.

A worker that keeps a read for reuse (``config_reuse``: the settings and
plugin states; ``identity_reuse``: recent sign-ins) compares a file's
modification stamp in the instance folder with the stamp it saw when it
read; a worker whose commit changed what such copies hold stamps the file.
One ``stat`` per reuse: far cheaper than the query it saves.
"""
from __future__ import annotations

import os
import time


def touch(path: str) -> None:
    """Stamp ``path`` now (after the commit), creating it if need be."""
    stamp = time.time_ns()  # explicit: the kernel's own file times tick only every few ms
    try:
        try:
            os.utime(path, ns=(stamp, stamp))
        except FileNotFoundError:
            with open(path, "a"):
                pass
            os.utime(path, ns=(stamp, stamp))
    except OSError:  # a read-only instance folder: the reuse window alone bounds staleness
        pass


def stamp(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0

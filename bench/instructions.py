"""Instructions per request, counted by valgrind's callgrind: ``bench/inprocess.py --instructions``.

CPU time on a shared two-core machine drifts by a fifth to a half from one
minute to the next, so a change worth 2 % could only be shown by alternating
it with its parent many times (the twenty-fourth round's pairs ranged from
-0.7 % to -19 % for one change). Callgrind counts the instructions the
process executes instead: the same commit measured twice gives the shop's
pages the same count within half a per cent, whatever else the machine does,
so two revisions measured one after the other compare directly.

``inprocess.py --instructions`` runs itself again under
``valgrind --tool=callgrind --instr-atstart=no``: the set-up (schema, orders,
fixtures) runs uninstrumented, about twice as slow as without valgrind, and
only the measured requests are counted. The process switches the counting on
and off around them with ``callgrind_control`` and has callgrind write the
block's totals to a file, which it reads back.

What the count leaves out: the database server's work (PostgreSQL's is another
process), waiting, cache misses and system calls. It is a measure of the Python
work a request costs, not of its time; keep wrk for that.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess  # nosec B404: runs valgrind and callgrind_control, fixed arguments
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

#: Set in the process valgrind runs: the folder callgrind writes its dumps to.
ENV = "BENCH_CALLGRIND_DIR"

_labels = itertools.count(1)

#: How far the windows are stretched: well past any run. Counted code runs 40-60 times
#: slower, more when other work shares the machine, and a window stretched by only that
#: much expired more or less often from run to run (a paid flash order measured 67 and 70
#: million instructions). At full speed a worker re-reads once in hundreds of requests.
SLOWDOWN = 1000
#: The shop's time windows that :func:`run_under_valgrind` stretches (from their defaults).
STRETCHED_WINDOWS = ("STOREFRONT_CONFIG_REUSE_SECONDS", "STOREFRONT_IDENTITY_REUSE_SECONDS",
                     "STOREFRONT_PAGE_CACHE_SECONDS")


def active() -> bool:
    return bool(os.environ.get(ENV))


def run_under_valgrind(script: str, argv: list[str]) -> int:
    """Run ``script argv`` (without ``--instructions``) under callgrind; its exit status."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    out = tempfile.mkdtemp(prefix="sf-callgrind-")
    # A fixed hash seed: set and dict orders, and so the instructions they take, repeat.
    env = {**os.environ, ENV: out, "PYTHONHASHSEED": "0"}
    # Counted code runs about fifty times slower, so the windows in which a worker reuses what
    # it read are stretched (SLOWDOWN): a request finds kept what it would find at full speed
    # (with a 1 s window it would re-read the settings every few requests). Writes still
    # retire the copies at once, as they do at full speed.
    from storefront.config import DEFAULTS

    for key in STRETCHED_WINDOWS:
        env.setdefault(key, str(int(DEFAULTS[key]) * SLOWDOWN))
    command = [valgrind, "--tool=callgrind", "--instr-atstart=no", "--log-file=" + os.path.join(out, "valgrind.log"),
               f"--callgrind-out-file={out}/cg.%p", sys.executable, script, *argv]
    try:
        return subprocess.call(command, env=env)  # nosec B603: valgrind, this script, its own arguments
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True,  # nosec B603 B607
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Count:
    total: int | None = None


@contextmanager
def counted():
    """Counts the instructions of the ``with`` block into the yielded ``Count`` (``None`` when
    not under callgrind)."""
    count = Count()
    if not active():
        yield count
        return
    label = f"block{next(_labels)}"
    _control("--instr=on")
    try:
        yield count
    finally:
        _control("--instr=off")
        _control(f"--dump={label}")
    count.total = _dumped_total(label)


def _dumped_total(label: str) -> int:
    """The ``totals:`` of the dump written for ``label`` (each dump holds what was counted
    since the one before, and the counting was on only for the block)."""
    trigger = f"desc: Trigger: dump {label}\n"
    for path in Path(os.environ[ENV]).glob(f"cg.{os.getpid()}.*"):
        text = path.read_text(encoding="utf-8", errors="replace")
        if trigger in text:
            match = re.search(r"^totals: (\d+)", text, re.MULTILINE)
            path.unlink()
            if match:
                return int(match.group(1))
    raise RuntimeError(f"callgrind wrote no dump for {label}")


def per_request(count: Count, n: int) -> float | None:
    """Millions of instructions per request, to three places."""
    return round(count.total / n / 1e6, 3) if count.total is not None and n else None

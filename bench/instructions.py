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

The switching is done from inside the process with callgrind's client requests
(``valgrind/callgrind.h``), through a few-line C library compiled on first use
into the dump folder: a switch then costs about 4,000 instructions, so single
requests -- each step of a flash buyer's flow -- can be counted apart
(:meth:`Count.end`). Without a C compiler or the header, the process asks
``callgrind_control`` instead: a switch then costs about a quarter of a million
instructions (the Python of starting a program) and only whole blocks are counted.

What the count leaves out: the database server's work (PostgreSQL's is another
process), waiting, cache misses and system calls. It is a measure of the Python
work a request costs, not of its time; keep wrk for that.
"""
from __future__ import annotations

import ctypes
import functools
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
    # --dump-line=no: only the totals are read, and a flash counted step by step writes a dump a request.
    command = [valgrind, "--tool=callgrind", "--instr-atstart=no", "--dump-line=no",
               "--log-file=" + os.path.join(out, "valgrind.log"),
               f"--callgrind-out-file={out}/cg.%p", sys.executable, script, *argv]
    try:
        return subprocess.call(command, env=env)  # nosec B603: valgrind, this script, its own arguments
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True,  # nosec B603 B607
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_CLIENT_REQUESTS = """
#include <valgrind/callgrind.h>
void sf_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void sf_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void sf_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
"""


@functools.cache
def client_requests() -> ctypes.CDLL | None:
    """The compiled client requests (``sf_start``, ``sf_stop``, ``sf_dump``), or None when
    there is no C compiler or no ``valgrind/callgrind.h`` (``callgrind_control`` is used then)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not active():
        return None
    folder = Path(os.environ[ENV])
    source, library = folder / "client_requests.c", folder / f"client_requests.{os.getpid()}.so"
    source.write_text(_CLIENT_REQUESTS, encoding="utf-8")
    built = subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)],  # nosec B603
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if built.returncode != 0:
        return None
    lib = ctypes.CDLL(str(library))
    lib.sf_dump.argtypes = [ctypes.c_char_p]
    return lib


class Count:
    """What :func:`counted` counted: ``total``, and per step (:meth:`end`) ``steps[name]``
    = [instructions, times ended]; both stay unset outside callgrind."""

    total: int | None = None

    def __init__(self) -> None:
        self.steps: dict[str, list[int]] = {}
        self._ended: list[tuple[str, str]] = []  # (dump label, step name)
        self._lib: ctypes.CDLL | None = None

    def end(self, name: str) -> None:
        """What ran since the block began or the last ``end`` is one run of step ``name``
        (counted apart only with the client requests; otherwise a no-op)."""
        if self._lib is not None:
            label = f"step{next(_labels)}"
            self._lib.sf_dump(label.encode())
            self._ended.append((label, name))

    def per_step(self, name: str) -> float | None:
        """Millions of instructions per run of step ``name``, to three places."""
        total, n = self.steps.get(name, (0, 0))
        return round(total / n / 1e6, 3) if n else None


@contextmanager
def counted():
    """Counts the instructions of the ``with`` block into the yielded :class:`Count`
    (nothing when not under callgrind)."""
    count = Count()
    if not active():
        yield count
        return
    label = f"block{next(_labels)}"
    count._lib = lib = client_requests()
    if lib is not None:
        lib.sf_start()
        try:
            yield count
        finally:
            lib.sf_stop()
            lib.sf_dump(label.encode())
    else:
        _control("--instr=on")
        try:
            yield count
        finally:
            _control("--instr=off")
            _control(f"--dump={label}")
    totals = _dumped_totals()
    if label not in totals:
        raise RuntimeError(f"callgrind wrote no dump for {label}")
    count.total = totals[label] + sum(totals[dumped] for dumped, _name in count._ended)
    for dumped, name in count._ended:
        step = count.steps.setdefault(name, [0, 0])
        step[0] += totals[dumped]
        step[1] += 1


_TRIGGER = re.compile(r"^desc: Trigger: (?:dump|Client Request:) (\S+)$", re.MULTILINE)


def _dumped_totals() -> dict[str, int]:
    """The ``totals:`` of every dump written since the last call, by label (each dump holds
    what was counted since the one before); the dumps are removed."""
    found = {}
    for path in Path(os.environ[ENV]).glob(f"cg.{os.getpid()}.*"):
        text = path.read_text(encoding="utf-8", errors="replace")
        trigger, total = _TRIGGER.search(text), re.search(r"^totals: (\d+)", text, re.MULTILINE)
        if trigger and total:
            found[trigger.group(1)] = int(total.group(1))
            path.unlink()
    return found


def per_request(count: Count, n: int) -> float | None:
    """Millions of instructions per request, to three places."""
    return round(count.total / n / 1e6, 3) if count.total is not None and n else None

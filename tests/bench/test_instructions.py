"""bench/instructions.py outside valgrind, and reading callgrind's dumps."""
from __future__ import annotations

import os

from bench import instructions


def test_outside_callgrind_nothing_is_counted(monkeypatch):
    monkeypatch.delenv(instructions.ENV, raising=False)
    with instructions.counted() as count:
        sum(range(1000))
    assert count.total is None and instructions.per_request(count, 10) is None


def _dump(folder, n: int, label: str, totals: str) -> None:
    (folder / f"cg.{os.getpid()}.{n}").write_text(
        f"version: 1\ncreator: callgrind-3.19.0\ncmd: python\npart: {n}\n\ndesc: I1 cache: \n"
        f"desc: Trigger: dump {label}\n\npositions: line\nevents: Ir\nsummary: {totals}\n"
        f"totals: {totals}\n", encoding="utf-8")


def test_the_dumps_are_read_by_their_labels_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv(instructions.ENV, str(tmp_path))
    _dump(tmp_path, 1, "block1", "1000")
    _dump(tmp_path, 2, "block12", "5000")  # a label that starts like another is not it
    (tmp_path / f"cg.{os.getpid()}.3").write_text(  # as the client requests write them
        "version: 1\ndesc: Trigger: Client Request: step7\n\nevents: Ir\ntotals: 42\n", encoding="utf-8")
    (tmp_path / f"cg.{os.getpid() + 1}.1").write_text("desc: Trigger: dump block1\ntotals: 9\n")  # another process's
    assert instructions._dumped_totals() == {"block1": 1000, "block12": 5000, "step7": 42}
    assert [p.name for p in tmp_path.iterdir()] == [f"cg.{os.getpid() + 1}.1"]
    assert instructions._dumped_totals() == {}


def test_steps_are_summed_per_name():
    count = instructions.Count()
    count.steps = {"pay": [30_000_000, 2]}
    assert count.per_step("pay") == 15.0 and count.per_step("cart") is None
    count.end("cart")  # outside callgrind: nothing is dumped, nothing counted
    assert count.steps == {"pay": [30_000_000, 2]}


def test_per_request_is_millions_a_request():
    count = instructions.Count()
    count.total = 12_345_678
    assert instructions.per_request(count, 2) == 6.173
    assert instructions.per_request(count, 0) is None

"""bench/instructions.py outside valgrind, and reading callgrind's dumps."""
from __future__ import annotations

import os

import pytest

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


def test_the_dump_of_a_block_is_found_by_its_label_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv(instructions.ENV, str(tmp_path))
    _dump(tmp_path, 1, "block1", "1000")
    _dump(tmp_path, 2, "block12", "5000")  # a label that starts like another is not it
    assert instructions._dumped_total("block12") == 5000
    assert instructions._dumped_total("block1") == 1000
    assert not list(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="no dump for block3"):
        instructions._dumped_total("block3")


def test_per_request_is_millions_a_request():
    count = instructions.Count()
    count.total = 12_345_678
    assert instructions.per_request(count, 2) == 6.173
    assert instructions.per_request(count, 0) is None

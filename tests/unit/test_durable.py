"""Durable file replacement (gateway/kernel/durable.py): whole files, and concurrent callers."""

from __future__ import annotations

import threading
from pathlib import Path

from gateway.kernel.durable import replace_durably


def test_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.last"
    target.write_bytes(b"old")
    replace_durably(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.last"]


def test_concurrent_callers_do_not_take_each_others_temporary_file(tmp_path: Path) -> None:
    # The periodic checkpoint signer and a citizen's covering head once raced on one name.
    target = tmp_path / "checkpoint.last"
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def write(n: int) -> None:
        start.wait()
        try:
            for _ in range(50):
                replace_durably(target, f"writer {n}".encode())
        except BaseException as exc:  # collected: the assertion below names it
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert target.read_bytes().startswith(b"writer ")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.last"]

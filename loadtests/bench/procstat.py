"""CPU time of a process and its descendants, read from ``/proc/PID/stat``.

A process's ``utime``/``stime`` already cover all its threads; ``cutime``/``cstime`` cover the
children it has reaped. Summing all four over the live tree therefore counts every process
exactly once, whether it is still running or has exited and been waited for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    """The fields of one ``/proc/PID/stat`` line the harness uses (times in clock ticks)."""

    pid: int
    state: str
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def ticks(self) -> int:
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(line: str) -> Stat:
    """Parse a ``/proc/PID/stat`` line; ``comm`` (in parentheses) may hold spaces and ')'."""
    head, _, rest = line.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = rest.split()
    # fields[0] is field 3 (state) of proc(5): ppid is 4, utime..cstime are 14..17.
    return Stat(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        cutime=int(fields[13]),
        cstime=int(fields[14]),
    )


def read_stat(pid: int, proc: Path = PROC) -> Stat | None:
    """The stat of ``pid``, or None if it has gone."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def descendants(root: int, stats: list[Stat]) -> list[Stat]:
    """``root`` and every process below it, from a list of stats of all processes."""
    children: dict[int, list[Stat]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat)
    tree = [s for s in stats if s.pid == root]
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            tree.append(child)
            pending.append(child.pid)
    return tree


def all_stats(proc: Path = PROC) -> list[Stat]:
    stats = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name), proc)
            if stat is not None:
                stats.append(stat)
    return stats


def tree_cpu_seconds(root: int, proc: Path = PROC) -> float:
    """User + system CPU seconds used so far by ``root`` and its descendants."""
    return sum(s.ticks for s in descendants(root, all_stats(proc))) / CLOCK_TICKS

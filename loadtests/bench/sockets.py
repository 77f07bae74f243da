"""Which process holds which TCP sockets of a port, read from ``/proc``: the listening sockets
and the accepted connections of each worker (``enlace serve --workers N``), to see how the
kernel spread wrk's connections over them.

``/proc/net/tcp`` and ``tcp6`` list every socket with its local port, its state and its inode;
``/proc/PID/fd`` links name the inodes a process holds (``socket:[INODE]``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from loadtests.bench import procstat

PROC = Path("/proc")
LISTEN, ESTABLISHED = "0A", "01"  # the kernel's TCP states, as /proc/net/tcp writes them


@dataclass(frozen=True)
class Tcp:
    local_port: int
    state: str
    inode: int


@dataclass(frozen=True)
class Held:
    """A process's sockets on the port: the listening ones (their inodes), and how many
    accepted connections."""

    listening: frozenset[int] = frozenset()
    connected: int = 0


def parse_tcp(text: str) -> list[Tcp]:
    """The sockets of a ``/proc/net/tcp`` (or ``tcp6``) table, its header line skipped."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        sockets.append(Tcp(local_port=port, state=fields[3], inode=int(fields[9])))
    return sockets


def inodes(pid: int, proc: Path = PROC) -> set[int]:
    """The socket inodes ``pid`` holds open (none if it has gone)."""
    held = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in (proc / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    held.add(int(target[len("socket:[") : -1]))
    return held


def held(pids: list[int], port: int, proc: Path = PROC) -> dict[int, Held]:
    """For each of ``pids``, its listening sockets and accepted connections on ``port``."""
    table: list[Tcp] = []
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            table += parse_tcp((proc / "net" / name).read_text())
    mine = [s for s in table if s.local_port == port]
    found = {}
    for pid in pids:
        own = inodes(pid, proc)
        ours = [s for s in mine if s.inode in own]
        found[pid] = Held(
            listening=frozenset(s.inode for s in ours if s.state == LISTEN),
            connected=sum(s.state == ESTABLISHED for s in ours),
        )
    return found


def workers(root: int, port: int, proc: Path = PROC) -> dict[int, Held]:
    """The processes of ``root``'s tree that listen on ``port`` (a supervisor's workers), with
    what each holds."""
    tree = [s.pid for s in procstat.descendants(root, procstat.all_stats(proc))]
    return {pid: h for pid, h in held(tree, port, proc).items() if h.listening}


def spread(root: int, port: int, proc: Path = PROC) -> tuple[int, ...]:
    """The accepted connections of each of ``root``'s workers on ``port``, most first."""
    return tuple(sorted((h.connected for h in workers(root, port, proc).values()), reverse=True))

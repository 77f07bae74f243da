"""Running wrk on a request pool and reading what it measured.

wrk runs with one thread pinned to CPU 0 and ``replay.lua``, which sends the pool's raw requests
in order and prints ``BENCH`` lines from ``done()``: requests, duration, socket errors, latency
percentiles, the count of each status and whether the pool ran dry. A request loop is bounded
both in time (``-d``) and in count (the pool).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).with_name("replay.lua")
WRK_CPU = "0"


class WrkError(RuntimeError):
    """wrk failed or printed no result."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: counts, latency percentiles in milliseconds, statuses seen."""

    requests: int
    seconds: float
    socket_errors: int
    p50: float
    p95: float
    p99: float
    dry: bool
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def unexpected(self, expected: int) -> int:
        """Responses with another status than ``expected``, plus socket errors."""
        return sum(n for status, n in self.statuses.items() if status != expected) + (
            self.socket_errors
        )


def write_pool(requests: list[bytes], path: Path) -> Path:
    """The pool file ``replay.lua`` reads: raw requests separated by NUL bytes."""
    if any(b"\0" in raw for raw in requests):
        raise ValueError("a request holds a NUL byte")
    path.write_bytes(b"\0".join(requests))
    return path


def parse(output: str) -> WrkResult:
    """Read the ``BENCH`` lines of ``replay.lua``'s ``done()``."""
    values: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    for line in output.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] != "BENCH":
            continue
        if parts[1] == "status":
            statuses[int(parts[2])] += int(parts[3])
        else:
            values[parts[1]] = parts[2]
    try:
        return WrkResult(
            requests=int(values["requests"]),
            seconds=int(values["duration_us"]) / 1e6,
            socket_errors=int(values["socket_errors"]),
            p50=int(values["p50_us"]) / 1000,
            p95=int(values["p95_us"]) / 1000,
            p99=int(values["p99_us"]) / 1000,
            dry=values.get("dry") == "true",
            statuses=statuses,
        )
    except KeyError as exc:
        raise WrkError(f"wrk printed no {exc.args[0]}: {output[-500:]!r}") from exc


def command(
    url: str,
    pool: Path,
    *,
    seconds: float,
    connections: int,
    cycle: bool,
    delay_ms: float | None = None,
) -> list[str]:
    """The wrk command line: one thread on CPU 0, bounded in time; the pool bounds the count.
    ``delay_ms``: each connection waits that long before each request (a paced load)."""
    paced = [] if delay_ms is None else [f"{delay_ms:.3f}"]
    return [
        "taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
        "--timeout", "10s", "--latency", "-s", str(SCRIPT), url,
        "--", str(pool), "cycle" if cycle else "once", *paced,
    ]  # fmt: skip


def run(
    url: str,
    pool: Path,
    *,
    seconds: float,
    connections: int,
    cycle: bool,
    delay_ms: float | None = None,
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise WrkError("wrk is not installed (apt-get install -y wrk)")
    cmd = command(
        url, pool, seconds=seconds, connections=connections, cycle=cycle, delay_ms=delay_ms
    )
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse(done.stdout)

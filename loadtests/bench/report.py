"""The run's one table, the lines under it, and the JSON file (``--json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loadtests.bench.scenarios import Case
from loadtests.bench.stats import Summary, cpu_ratio, rate_ratio

COLUMNS = (
    ("case", 32, "<"),
    ("conns", 5, ">"),
    ("req/s", 8, ">"),
    ("p50 ms", 8, ">"),
    ("p95 ms", 8, ">"),
    ("p99 ms", 8, ">"),
    ("errors", 7, ">"),
    ("batch", 6, ">"),
    ("CPU µs/req", 11, ">"),
    ("CPU (a)/case", 13, ">"),
    ("CPU (b)/case", 13, ">"),
    ("req/s ÷ (a)", 12, ">"),
)


def machine() -> dict[str, Any]:
    """CPU model and count from /proc/cpuinfo, and the load average when the run started."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cpu": model, "nproc": os.cpu_count(), "loadavg": list(os.getloadavg())}


def _cell(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def row(case: Case, summary: Summary, baselines: dict[str, Summary]) -> list[str]:
    bare, source = baselines.get("bare"), baselines.get("source")
    errors = f"{summary.errors}{'*' if summary.dry else ''}"
    return [
        case.title,
        str(case.connections),
        _cell(summary.rps),
        _cell(summary.p50, 2),
        _cell(summary.p95, 2),
        _cell(summary.p99, 2),
        errors,
        _cell(summary.batch, 2),
        _cell(summary.cpu_us),
        _cell(cpu_ratio(bare.cpu_us, summary.cpu_us) if bare else None, 3),
        _cell(cpu_ratio(source.cpu_us, summary.cpu_us) if source else None, 3),
        _cell(rate_ratio(summary.rps, bare.rps) if bare else None, 3),
    ]


def table(cases: list[Case], summaries: dict[str, Summary]) -> str:
    baselines: dict[str, Summary] = {
        name: summaries[name] for name in ("bare", "source") if name in summaries
    }
    lines = ["  ".join(f"{title:{align}{width}}" for title, width, align in COLUMNS)]
    lines.append("-" * len(lines[0]))
    for case in cases:
        if case.name in summaries:
            cells = row(case, summaries[case.name], baselines)
            lines.append(
                "  ".join(
                    f"{cell:{align}{width}}"
                    for cell, (_, width, align) in zip(cells, COLUMNS, strict=True)
                )
            )
    return "\n".join(lines)


def added_latency(summaries: dict[str, Summary]) -> str | None:
    """The gateway's added latency at one connection over RENAPO's service direct."""
    gateway, source = summaries.get("curp-1c"), summaries.get("source-1c")
    if gateway is None or source is None:
        return None
    return (
        f"1 connection: the gateway adds {gateway.p50 - source.p50:.2f} ms at p50 and "
        f"{gateway.p99 - source.p99:.2f} ms at p99 over calling RENAPO's service directly"
    )


def half_load(summaries: dict[str, Summary]) -> str | None:
    """The paced case's p99 beside the issue's target, and how much of ``curp``'s rate it had."""
    half, full = summaries.get("curp-half"), summaries.get("curp")
    if half is None or full is None or not full.rps:
        return None
    held = "" if half.locked is None else f"; each checkpoint held the ledger {half.locked:.1f} ms"
    return (
        f"half load: {half.rps:.0f} exchanges/s ({half.rps / full.rps:.2f} of curp's "
        f"{full.rps:.0f}/s), p99 {half.p99:.2f} ms (target ≤ 20 ms){held}"
    )


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

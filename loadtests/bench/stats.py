"""One round's figures, the medians over a case's rounds, and ratios to the baselines."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Round:
    """What one wrk run against one server measured."""

    rps: float
    p50: float
    p95: float
    p99: float
    requests: int
    errors: int
    cpu_us: float | None  # server CPU per completed request, µs
    batch: float | None  # mean ledger entries per commit in this round
    dry: bool
    split: tuple[int, ...] | None = None  # several workers: wrk's connections on each
    locked: float | None = None  # mean ms each checkpoint in the round held the ledger's lock


@dataclass(frozen=True)
class Summary:
    """Medians over a case's rounds; errors summed; dry if any round ran out of requests."""

    rounds: int
    rps: float
    p50: float
    p95: float
    p99: float
    errors: int
    cpu_us: float | None
    batch: float | None
    dry: bool
    locked: float | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def cpu_per_request(cpu_seconds: float, requests: int) -> float | None:
    """Microseconds of CPU per request; None when nothing completed."""
    return cpu_seconds * 1e6 / requests if requests else None


def summarise(rounds: list[Round]) -> Summary:
    def med(name: str) -> float:
        value = median([getattr(r, name) for r in rounds])
        return 0.0 if value is None else value

    def med_optional(name: str) -> float | None:
        return median([getattr(r, name) for r in rounds if getattr(r, name) is not None])

    return Summary(
        rounds=len(rounds),
        rps=med("rps"),
        p50=med("p50"),
        p95=med("p95"),
        p99=med("p99"),
        errors=sum(r.errors for r in rounds),
        cpu_us=med_optional("cpu_us"),
        batch=med_optional("batch"),
        dry=any(r.dry for r in rounds),
        locked=med_optional("locked"),
    )


def cpu_ratio(baseline_us: float | None, case_us: float | None) -> float | None:
    """Baseline CPU per request ÷ the case's: 1.0 is as lean as the baseline."""
    if not baseline_us or not case_us:
        return None
    return baseline_us / case_us


def rate_ratio(case_rps: float, baseline_rps: float) -> float | None:
    return case_rps / baseline_rps if baseline_rps else None


def paced_delay_ms(connections: int, rate: float) -> float:
    """The wait before each request that makes ``connections`` closed-loop connections offer
    about ``rate`` requests/s (each also waits for its answer, so a little less is reached)."""
    return connections * 1000.0 / rate if rate > 0 else 1000.0


def pace_correction(current: float, wanted: float, reached: float) -> float:
    """The next delay factor of a paced case that reached ``reached`` req/s for ``wanted``:
    a round that fell short waits less (bounded, so one slow round cannot swing it)."""
    return current * min(1.5, max(0.5, reached / wanted))

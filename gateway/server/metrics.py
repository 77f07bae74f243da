"""Prometheus metrics of a gateway process (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.storage.ledger.publisher import SigningTimes


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.exchanges = Counter(
            "enlace_exchanges", "Exchanges by outcome", ["outcome"], registry=self.registry
        )
        self.source_seconds = Histogram(
            "enlace_source_seconds",
            "Trusted source answer time",
            ["source"],
            registry=self.registry,
        )
        self.ledger_batch = Histogram(
            "enlace_ledger_batch_entries",
            "Entries per ledger commit",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=self.registry,
        )
        self.checkpoint_seconds = Histogram(
            "enlace_checkpoint_seconds",
            "Checkpoint signing time by phase: fold (before the lock), wait (for SQLite's "
            "write turn), locked (the signing transaction, which every append waits for)",
            ["phase"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.rate_fallbacks = Counter(
            "enlace_client_rate_fallbacks",
            "Exchanges whose client rate this process decided alone: the shared store failed",
            registry=self.registry,
        )
        self.witness_submissions = Counter(
            "enlace_witness_submissions",
            "Checkpoint submissions to witnesses by outcome",
            ["outcome"],
            registry=self.registry,
        )

        # Each exchange counts once and times its source once: the labelled children are
        # looked up once per label rather than through ``labels()`` (a lock and a dict) each time.
        self._outcomes: dict[str, Counter] = {}
        self._sources: dict[str, Histogram] = {}

    def count_exchange(self, outcome: str) -> None:
        child = self._outcomes.get(outcome)
        if child is None:
            child = self._outcomes[outcome] = self.exchanges.labels(outcome)
        child.inc()

    def observe_source(self, source: str, seconds: float) -> None:
        child = self._sources.get(source)
        if child is None:
            child = self._sources[source] = self.source_seconds.labels(source)
        child.observe(seconds)

    def observe_signing(self, times: SigningTimes) -> None:
        """One signing's phases (``publisher.SigningTimes``) into ``enlace_checkpoint_seconds``."""
        for phase in ("fold", "wait", "locked"):
            self.checkpoint_seconds.labels(phase).observe(getattr(times, phase))

"""What a gateway's Prometheus ``/metrics`` says about the exchanges it handled.

``enlace_exchanges_total`` (by outcome) counts exchanges answered after their ledger append;
the histogram ``enlace_ledger_batch_entries`` observes each ledger commit's size, so its
``_sum`` is entries appended and its ``_count`` commits (``gateway.server.metrics``). Two
readings give what happened between them.
"""

from __future__ import annotations

from dataclasses import dataclass

EXCHANGES = "enlace_exchanges_total"
BATCH = "enlace_ledger_batch_entries"


@dataclass(frozen=True)
class Reading:
    exchanges: float
    entries: float
    commits: float

    def __sub__(self, before: Reading) -> Reading:
        return Reading(
            self.exchanges - before.exchanges,
            self.entries - before.entries,
            self.commits - before.commits,
        )

    @property
    def mean_batch(self) -> float | None:
        """Mean entries per commit (of a difference of readings); None without commits."""
        return self.entries / self.commits if self.commits > 0 else None


def parse(text: str) -> Reading:
    """A reading from the Prometheus text format; zeros for series not yet observed."""
    exchanges = entries = commits = 0.0
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(EXCHANGES + "{"):
            exchanges += float(value)
        elif name == f"{BATCH}_sum":
            entries = float(value)
        elif name == f"{BATCH}_count":
            commits = float(value)
    return Reading(exchanges, entries, commits)

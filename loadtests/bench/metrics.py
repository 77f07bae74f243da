"""What a gateway's Prometheus ``/metrics`` says about the exchanges it handled.

``enlace_exchanges_total`` (by outcome) counts exchanges answered after their ledger append;
the histogram ``enlace_ledger_batch_entries`` observes each ledger commit's size, so its
``_sum`` is entries appended and its ``_count`` commits (``gateway.server.metrics``);
``enlace_checkpoint_seconds`` with ``phase="locked"`` observes how long each checkpoint's
signing transaction held the ledger's lock. Two readings give what happened between them.
"""

from __future__ import annotations

from dataclasses import dataclass

EXCHANGES = "enlace_exchanges_total"
BATCH = "enlace_ledger_batch_entries"
CHECKPOINT = "enlace_checkpoint_seconds"
LOCKED = 'phase="locked"'


@dataclass(frozen=True)
class Reading:
    exchanges: float
    entries: float
    commits: float
    locked: float = 0.0  # seconds checkpoints held the ledger's lock, in all
    checkpoints: float = 0.0

    def __sub__(self, before: Reading) -> Reading:
        return Reading(
            self.exchanges - before.exchanges,
            self.entries - before.entries,
            self.commits - before.commits,
            self.locked - before.locked,
            self.checkpoints - before.checkpoints,
        )

    @property
    def mean_batch(self) -> float | None:
        """Mean entries per commit (of a difference of readings); None without commits."""
        return self.entries / self.commits if self.commits > 0 else None

    @property
    def mean_locked_ms(self) -> float | None:
        """Mean ms a checkpoint held the ledger's lock; None without checkpoints."""
        return self.locked * 1e3 / self.checkpoints if self.checkpoints > 0 else None


def parse(text: str) -> Reading:
    """A reading from the Prometheus text format; zeros for series not yet observed."""
    exchanges = entries = commits = locked = checkpoints = 0.0
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(EXCHANGES + "{"):
            exchanges += float(value)
        elif name == f"{BATCH}_sum":
            entries = float(value)
        elif name == f"{BATCH}_count":
            commits = float(value)
        elif name == f"{CHECKPOINT}_sum{{{LOCKED}}}":
            locked = float(value)
        elif name == f"{CHECKPOINT}_count{{{LOCKED}}}":
            checkpoints = float(value)
    return Reading(exchanges, entries, commits, locked, checkpoints)

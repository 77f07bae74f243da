"""Per-client rates shared by every gateway process, when Redis is configured.

Owns the batching of rate decisions and what a failure of the store means. Each exchange's
client, once its concurrency is counted in (in this process: in-flight counts die with their
process, so they are never shared), is decided against the one budget every process spends,
``gateway.storage.rates`` (GCRA in one Redis script, on Redis's clock), with the same limits
as one process would apply (``limits.Limit``, a client's own from the registry). Decisions are
grouped like replay claims (``batching``): the exchanges of one event-loop iteration, and all
that arrive while a batch is in Redis, go in one script call; one call in flight at a time.

The store unreachable (or failing): the batch is decided by this process's own limiter
instead, as without Redis, the first failure logged and each such decision counted
(``enlace_client_rate_fallbacks_total``). An unreachable limiter must not deny every client its
service; the cost is that, meanwhile, a client may reach its rate once in each process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gateway.server.batching import Batcher
from gateway.server.limits import ClientLimiter, Limit
from gateway.storage.rates import RateStore, Request

log = logging.getLogger("enlace.exchange")


def requests(batch: list[tuple[str, Limit]]) -> list[Request]:
    """What the store is asked for a batch of (client, its limits)."""
    return [(client, 1 / limit.rate, limit.burst) for client, limit in batch]


class SharedRates:
    """Batched rate decisions in a shared store, this process's ``local`` limiter when it
    fails; ``on_fallback`` counts the exchanges decided locally."""

    def __init__(
        self, store: RateStore, local: ClientLimiter, on_fallback: Callable[[int], None]
    ) -> None:
        self._store = store
        self._local = local
        self._on_fallback = on_fallback
        self._batches: Batcher[tuple[str, Limit], float] = Batcher(self._decide)
        self.available = True
        self.batches = 0

    async def spend(self, client: str, limit: Limit) -> float:
        """One exchange of ``client`` against its shared rate: 0, or the seconds to wait."""
        return await self._batches.submit((client, limit))

    async def _decide(self, batch: list[tuple[str, Limit]]) -> list[float]:
        try:
            waits = await asyncio.to_thread(self._store.spend, requests(batch))
        except Exception as exc:
            return self._fall_back(batch, exc)
        self.batches += 1
        if not self.available:
            self.available = True
            log.warning("shared client rates available again")
        return waits

    def _fall_back(self, batch: list[tuple[str, Limit]], exc: Exception) -> list[float]:
        if self.available:
            self.available = False
            log.error(
                "shared client rates unavailable: each process counts its own",
                extra={"error": type(exc).__name__},
            )
        self._on_fallback(len(batch))
        now = time.monotonic()
        return [self._local.spend(client, limit, now) for client, limit in batch]

    def close(self) -> None:
        self._store.close()

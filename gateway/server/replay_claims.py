"""Shared replay protection: a signed request's keys claimed in the store every gateway shares.

Owns what a batch of claims decides. The in-memory ``ReplayCache`` stays the first filter (a
replay to the same process never leaves it); a request it lets through is claimed in the shared
store (``gateway.storage.replay``: PostgreSQL's table or Redis) before it goes on. Claims are
grouped like the ledger writer groups appends (``batching``): the requests of one event-loop
iteration, and all that arrive while a batch is being stored, go in one statement; one batch is
in flight at a time. A request is fresh only if this batch claimed every one of its keys; the
first request of a batch holding a key wins it. The store unreachable:
``Server.ReplayUnavailable`` (fail closed).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from gateway.kernel.errors import EnlaceError
from gateway.server.batching import Batcher
from gateway.storage.replay import ClaimStore

log = logging.getLogger("enlace.exchange")


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def fresh(batch: list[list[bytes]], claimed: set[bytes]) -> list[bool]:
    """Which requests of ``batch`` (each its keys' digests) are fresh, given the keys the
    store says this batch claimed: all of its keys, and none held by an earlier one of the
    batch."""
    answers = []
    for digests in batch:
        first = all(key in claimed for key in digests)
        if first:
            claimed.difference_update(digests)  # a later request of the batch: a replay
        answers.append(first)
    return answers


class SharedReplay:
    """Batched first-use claims in a shared store, for ``window`` seconds."""

    def __init__(self, store: ClaimStore, window: float) -> None:
        self._store = store
        self._window_ms = int(window * 1000)
        self._batches: Batcher[list[bytes], bool | None] = Batcher(self._claim)
        self.batches = 0
        self.claimed = 0

    async def first_use(self, *keys: str) -> bool:
        """Claim ``keys``; False if any of them is claimed already (a replay)."""
        first = await self._batches.submit([digest(key) for key in keys])
        if first is None:
            raise EnlaceError("Server.ReplayUnavailable")
        return first

    async def _claim(self, batch: list[list[bytes]]) -> list[bool | None]:
        keys = list(dict.fromkeys(key for digests in batch for key in digests))
        now = int(time.time() * 1000)
        try:
            claimed = await asyncio.to_thread(self._store.claim, keys, now + self._window_ms, now)
        except Exception as exc:
            log.error(
                "replay claims failed", extra={"batch": len(batch), "error": type(exc).__name__}
            )
            return [None] * len(batch)
        self.batches += 1
        self.claimed += len(batch)
        return list(fresh(batch, claimed))

    def purge(self) -> int:
        """Delete expired claims (the store's own expiry where it has one)."""
        return self._store.purge(int(time.time() * 1000))

    def close(self) -> None:
        self._store.close()

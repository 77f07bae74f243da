"""Shared replay protection: a signed request's keys claimed in the store every gateway shares.

Owns the batching of claims. The in-memory ``ReplayCache`` stays the first filter (a replay to
the same process never leaves it); a request it lets through is claimed in the shared store
(``gateway.storage.replay``: PostgreSQL's table or Redis) before it goes on. Claims are grouped
like the ledger writer groups appends: the requests of one event-loop iteration, and all that
arrive while a batch is being stored, go in one statement; one batch is in flight at a time.
A request is fresh only if this batch claimed every one of its keys; the first request of a
batch holding a key wins it. The store unreachable: ``Server.ReplayUnavailable`` (fail closed).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from gateway.kernel.errors import EnlaceError
from gateway.storage.replay import ClaimStore

log = logging.getLogger("enlace.exchange")

_Pending = tuple[list[bytes], asyncio.Future[bool]]


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class SharedReplay:
    """Batched first-use claims in a shared store, for ``window`` seconds."""

    def __init__(self, store: ClaimStore, window: float) -> None:
        self._store = store
        self._window_ms = int(window * 1000)
        self._pending: list[_Pending] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # held: a task nobody holds may vanish
        self.batches = 0
        self.claimed = 0

    async def first_use(self, *keys: str) -> bool:
        """Claim ``keys``; False if any of them is claimed already (a replay)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append(([digest(key) for key in keys], future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._start)
        return await future

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._claim(batch)
        finally:
            self._flushing = False

    async def _claim(self, batch: list[_Pending]) -> None:
        keys = list(dict.fromkeys(key for digests, _ in batch for key in digests))
        now = int(time.time() * 1000)
        try:
            claimed = await asyncio.to_thread(self._store.claim, keys, now + self._window_ms, now)
        except Exception as exc:
            log.error(
                "replay claims failed", extra={"batch": len(batch), "error": type(exc).__name__}
            )
            for _, future in batch:
                if not future.done():
                    future.set_exception(EnlaceError("Server.ReplayUnavailable"))
            return
        self.batches += 1
        self.claimed += len(batch)
        for digests, future in batch:
            fresh = all(key in claimed for key in digests)
            if fresh:
                claimed.difference_update(digests)  # a later request of the batch: a replay
            if not future.done():
                future.set_result(fresh)

    def purge(self) -> int:
        """Delete expired claims (the store's own expiry where it has one)."""
        return self._store.purge(int(time.time() * 1000))

    def close(self) -> None:
        self._store.close()

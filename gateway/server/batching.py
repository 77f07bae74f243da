"""Calls to a shared store grouped by event-loop iteration: one round trip in flight at a time.

Owns the grouping that the shared replay claims (``replay_claims``) and the shared client rates
(``shared_rates``) use, like the ledger writer groups appends: the items submitted during one
event-loop iteration, and all that arrive while a batch is in flight, go to ``run`` together,
which answers one result per item, in order. A store's failure is ``run``'s to turn into
results (what it means is the caller's); an exception ``run`` lets out (a bug) reaches every
item of its batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Items to ``run`` in batches, one batch at a time."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._run = run
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # held: a task nobody holds may vanish

    async def submit(self, item: Item) -> Result:
        """``item``'s result, once the batch it joined has run."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
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
                await self._answer(batch)
        finally:
            self._flushing = False

    async def _answer(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():  # a cancelled waiter is skipped
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

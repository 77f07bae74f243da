"""The sequencer: gives records their ledger index and appends them, a batch per transaction.

``append`` assigns the next indexes under the ledger's sequencing lock (``driver.locked_tree``),
so the gateway's writer and an administrator's CLI can append concurrently and indexes stay
dense and ordered. The same transaction that stores an entry extends the tree: it stores every
perfect subtree the entry completes (leaves included) and the new frontier, so a committed index
always has its tree state.

Group commit: one writer thread (``LedgerWriter``) batches the gateway's appends; each caller
awaits its batch. Requests hand their record to ``LedgerWriter.append`` and await the index it
gets. The writer thread takes whatever has queued up (up to ``max_batch``), appends it in one
transaction and commits once, then wakes every waiter of that batch with a single event-loop
callback. A commit is durable when it returns (SQLite ``synchronous=FULL``, PostgreSQL
default), so an entry is acknowledged only after commit: an index handed back means the entry
is on disk. If the transaction fails, every waiter of the batch gets ``LedgerUnavailable`` and
nothing of the batch is stored: the exchange fails closed. With a history guard
(``guard.HistoryGuard``, the gateway's), a batch is appended only to a tree that extends the
last signed head; otherwise every waiter gets ``LedgerCorrupt`` and nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from gateway.kernel.ledger import merkle
from gateway.kernel.ledger import record as rec
from gateway.storage.db import Database
from gateway.storage.ledger import driver
from gateway.storage.ledger.errors import LedgerCorrupt, LedgerUnavailable
from gateway.storage.ledger.guard import HistoryGuard

log = logging.getLogger("enlace.ledger")

_STOP = object()

_Waiter = tuple[dict[str, Any], asyncio.Future, asyncio.AbstractEventLoop]


@dataclasses.dataclass(frozen=True)
class Appended:
    """Where an entry went: its index and leaf hash, and the tree right after its batch."""

    index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes


def append(
    conn: Connection, records: list[dict[str, Any]], guard: HistoryGuard | None = None
) -> list[Appended]:
    """Append records at the end of the ledger and the tree within ``conn``'s transaction;
    with a ``guard``, only to a tree that extends the last signed head (``LedgerCorrupt``)."""
    if not records:
        return []
    tree = driver.locked_tree(conn)
    if guard is not None:
        guard.check(conn, tree)
    rows, subjects, nodes, placed = [], [], [], []
    for record in records:
        body = rec.canonical(record)
        leaf = merkle.leaf_hash(body)
        index = tree.size
        rows.append(driver.entry_row(index, record, body, leaf))
        subjects += [{"subject": s, "idx": index} for s in record.get("subjects") or ()]
        nodes += [{"level": lv, "idx": i, "hash": h} for lv, i, h in tree.append(leaf)]
        placed.append((index, leaf))
    driver.store_batch(conn, rows, subjects, nodes, tree)
    if guard is not None:
        guard.extended(tree)
    root = tree.root()
    return [Appended(index, leaf, tree.size, root) for index, leaf in placed]


class LedgerWriter:
    """The gateway's group-commit writer thread (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 512,
        max_pending: int = 50_000,
        commit_timeout: float = 30.0,
        on_commit: Callable[[list[Appended]], None] | None = None,
        guard: HistoryGuard | None = None,
    ) -> None:
        self._db = db
        self._guard = guard
        self._max_batch = max_batch
        self._commit_timeout = commit_timeout
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._on_commit = on_commit
        self.batches = 0
        self.appended = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    async def append(self, record: dict[str, Any]) -> Appended:
        """Queue a record and wait until it is durably stored; return its index and leaf hash."""
        if self._thread is None:
            raise LedgerUnavailable("ledger writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        try:
            self._queue.put_nowait((record, future, loop))
        except queue.Full as exc:
            raise LedgerUnavailable("ledger queue is full") from exc
        return await asyncio.wait_for(future, self._commit_timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            # A waiter that gave up (time-out, cancelled request) was answered 503 without
            # data: do not record its exchange as if the response had gone out. A waiter
            # that gives up while its batch commits is the remaining, documented window.
            batch = [item for item in batch if not item[1].done()]
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Waiter]) -> None:
        try:
            with self._db.write.begin() as conn:
                results: list[Any] = append(conn, [record for record, _, _ in batch], self._guard)
        except LedgerCorrupt as exc:  # the guard said why; nothing of the batch is stored
            results = [exc] * len(batch)
        except Exception as exc:  # any failure: nothing of the batch is stored
            log.error(
                "ledger append failed", extra={"batch": len(batch), "error": type(exc).__name__}
            )
            failure = LedgerUnavailable(f"ledger append failed: {type(exc).__name__}")
            results = [failure] * len(batch)
        else:
            self.batches += 1
            self.appended += len(batch)
            if self._on_commit is not None:
                self._on_commit(results)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any]]] = {}
        for (_, future, loop), result in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result))
        for loop, pairs in by_loop.items():
            # A loop that closed while we committed has nobody waiting on it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[asyncio.Future, Any]]) -> None:
    for future, result in pairs:
        if future.done():  # the waiter timed out or was cancelled
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)

"""The sequencer: gives records their ledger index and appends them, a batch per transaction.

Indexes are assigned under the ledger's sequencing lock (see ``driver``), so the gateway's
writer and an administrator's CLI can append concurrently and indexes stay dense and ordered.
The same transaction that stores an entry extends the tree: it stores every perfect subtree the
entry completes (leaves included) and the new frontier, so a committed index always has its
tree state. ``append`` does this inside a caller's SQLAlchemy transaction (registry changes);
``LedgerWriter`` is the gateway's group commit.

Group commit: requests hand their record to ``LedgerWriter.append`` and await the index it gets.
The record is canonicalised and hashed right there, on the caller's side, so a record that
cannot be canonicalised fails alone and the writer thread holds the GIL only to sequence. The
appends of one event-loop iteration are handed to the writer thread together (one wake-up, not
one per request); the thread takes everything handed over while it committed the previous batch
(up to ``max_batch``), stores it through the driver's own connection with a handful of
statements and commits once, then wakes every waiter of that batch with a single event-loop
callback. The tree's frontier is kept in memory between batches; the state row is written first
and only if it still holds that frontier, so the stored state stays the truth: when another
appender went first (the same statement then answers its frontier, locked), or after any failed
transaction, the batch is placed after the frontier read from storage under the lock, and the
state row written once. A commit is durable when it returns (SQLite ``synchronous=FULL``,
PostgreSQL default), so an entry is acknowledged only after commit: an index handed back means
the entry is on disk. If the transaction fails, every waiter of the batch gets
``LedgerUnavailable`` and nothing of the batch is stored: the exchange fails closed. A failed
batch is tried once more on a fresh connection when nothing of it was committed; when the
failure came during COMMIT (committed or not, the client cannot tell), a fresh connection asks
whether the batch's first leaf is stored at its index: if so the batch committed. A waiter that
stopped waiting (its commit wait expired, its request was cancelled) while its batch committed
was answered without data although its exchange is recorded: the writer then appends an
``undelivered`` record correcting it (docs/ledger.md §1).
With a history guard
(``guard.HistoryGuard``, the gateway's), a batch is appended only to a tree that extends the
last signed head; otherwise every waiter gets ``LedgerCorrupt`` and nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from gateway.kernel.ledger import merkle
from gateway.kernel.ledger import record as rec
from gateway.storage.db import Database
from gateway.storage.ledger import driver
from gateway.storage.ledger.batch import Appended, Batch, Entry, prepare, sequence
from gateway.storage.ledger.errors import LedgerCorrupt, LedgerUnavailable
from gateway.storage.ledger.guard import HistoryGuard

__all__ = ["Appended", "Batch", "Entry", "LedgerWriter", "append", "prepare", "sequence"]

log = logging.getLogger("enlace.ledger")

_STOP = object()


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
    batch = sequence(tree, [prepare(r) for r in records])
    driver.store_batch(conn, batch.rows, batch.tree)
    if guard is not None:
        guard.extended(batch.tree)
    return batch.appended


class _Uncertain(Exception):
    """COMMIT failed: ``batch`` may or may not be stored."""

    def __init__(self, batch: Batch) -> None:
        super().__init__("commit failed")
        self.batch = batch


class _Waiter(NamedTuple):
    entry: Entry
    future: asyncio.Future[Appended]
    loop: asyncio.AbstractEventLoop


class LedgerWriter:
    """The gateway's group-commit writer thread (see the module docstring).

    ``batches`` (transactions) and ``appended`` (entries) count what it committed; their ratio
    is the mean batch (``mean_batch``).
    """

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
        self._store = driver.BatchStore(db.write)
        self._read = db.read  # the guard's reads, beside the batch's own connection
        self._guard = guard
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._commit_timeout = commit_timeout
        self._on_commit = on_commit
        self._handed: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._gathering: dict[asyncio.AbstractEventLoop, list[_Waiter]] = {}
        # Written by one side each (event loop / writer thread): no lock needed to compare.
        self._queued = 0
        self._taken = 0
        self._tree: merkle.CompactRange | None = None  # as last committed; None: read storage
        self._thread: threading.Thread | None = None
        self._compensating: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.appended = 0
        self.retried = 0
        self.compensated = 0

    @property
    def mean_batch(self) -> float:
        """Entries per committed transaction so far."""
        return self.appended / self.batches if self.batches else 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._handed.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None
            self._store.close()

    async def append(self, record: dict[str, Any], covert: Sequence[str] = ()) -> Appended:
        """Queue a record and wait until it is durably stored; return its index and leaf hash.
        ``covert``: the pseudonyms it is recorded for under covert keys (``ledger_covert``)."""
        if self._thread is None:
            raise LedgerUnavailable("ledger writer is not running")
        if self._queued - self._taken >= self._max_pending:
            raise LedgerUnavailable("ledger queue is full")
        try:
            entry = prepare(record, covert)
        except Exception as exc:  # a record that cannot be canonicalised is not recorded
            raise LedgerUnavailable(f"ledger record refused: {type(exc).__name__}") from exc
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        gathering = self._gathering.get(loop)
        if gathering is None:  # the first of this loop iteration: hand over when it ends
            gathering = self._gathering[loop] = []
            loop.call_soon(self._hand_over, loop)
        gathering.append(_Waiter(entry, future, loop))
        self._queued += 1
        # One timer per append (``asyncio.wait_for`` costs a second future and callbacks).
        expiry = loop.call_later(self._commit_timeout, _expire, future)
        try:
            return await future
        finally:
            expiry.cancel()

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handed.put(self._gathering.pop(loop))

    def _run(self) -> None:
        pending: list[_Waiter] = []
        stopping = False
        while True:
            if not pending:
                if stopping:
                    return
                handed = self._handed.get()
                if handed is _STOP:
                    return
                pending = handed
            # Whatever was handed over while the last batch committed joins this one.
            while len(pending) < self._max_batch and not stopping:
                try:
                    handed = self._handed.get_nowait()
                except queue.Empty:
                    break
                if handed is _STOP:
                    stopping = True
                else:
                    pending += handed
            batch, pending = pending[: self._max_batch], pending[self._max_batch :]
            self._taken += len(batch)
            # A waiter that gave up (time-out, cancelled request) was answered 503 without
            # data: do not record its exchange as if the response had gone out. One that
            # gives up while its batch commits gets an ``undelivered`` record (``_resolve``).
            batch = [waiter for waiter in batch if not waiter.future.done()]
            if batch:
                self._commit(batch)

    def _store_batch(self, entries: list[Entry]) -> list[Appended]:
        """Store a batch, trying once more on a fresh connection if nothing was committed."""
        for attempt in (1, 2):
            try:
                return self._store_once(entries)
            except LedgerCorrupt:
                raise
            except _Uncertain as exc:
                if self._committed(exc.batch):
                    return self._stored(exc.batch)
                if attempt == 2:
                    raise exc.__cause__ or exc from None
            except Exception:
                if attempt == 2:
                    raise
            self._tree = None  # the stored state is the truth: read it again
            self.retried += 1
            log.warning("ledger batch failed, nothing committed: retrying once")
        raise AssertionError("unreachable")

    def _store_once(self, entries: list[Entry]) -> list[Appended]:
        if self._guard is not None:
            self._guard.ensure_sound()
        batch: Batch | None = None
        try:
            with self._store.transaction() as txn:
                batch = self._place(txn, entries)
                txn.insert(batch.rows)
        except driver.CommitFailed as exc:
            assert batch is not None
            raise _Uncertain(batch) from exc.__cause__
        assert batch is not None
        return self._stored(batch)

    def _place(self, txn: driver.BatchTransaction, entries: list[Entry]) -> Batch:
        """Sequence ``entries`` after the stored tree and write the new state, taking the lock."""
        if self._tree is not None:
            # Our own last tree, which the guard has checked already.
            batch = sequence(self._tree, entries)
            stored = txn.swap_state(self._tree, batch.tree)
            if stored is None:
                return batch
            # Another appender (a gateway, the CLI) went first: the swap read its state.
        else:
            stored = txn.locked_state()
        self._check_history(txn, stored)
        batch = sequence(stored, entries)
        txn.set_state(batch.tree)
        return batch

    def _stored(self, batch: Batch) -> list[Appended]:
        self._tree = batch.tree
        if self._guard is not None:
            self._guard.extended(batch.tree)
        return batch.appended

    def _committed(self, batch: Batch) -> bool:
        """After a failed COMMIT, on a fresh connection: is the batch's first leaf stored at
        its index? (Indexes are given under the lock: if it is, the whole batch is.)"""
        first = batch.appended[0]
        try:
            with self._read.connect() as conn:
                stored = driver.leaf_at(conn, first.index)
        except Exception:  # cannot tell: not committed as far as anyone was told
            log.error("ledger commit outcome unknown", extra={"index": first.index})
            raise
        return stored == first.leaf_hash

    def _check_history(self, txn: driver.BatchTransaction, tree: merkle.CompactRange) -> None:
        """With a guard: ``tree`` (locked, so nobody appends meanwhile) must extend the last
        signed head. Another writer's few batches since ours are checked by their leaves, read
        in this transaction (all committed: their state is); else the proof's checkpoints and
        nodes are read on another connection: what is committed."""
        if self._guard is not None and not self._guard.check_by_leaves(tree, txn.leaf_hashes):
            with self._read.connect() as conn:
                self._guard.check(conn, tree)

    def _commit(self, batch: list[_Waiter]) -> None:
        results: Sequence[Appended | Exception]
        try:
            results = self._store_batch([waiter.entry for waiter in batch])
        except LedgerCorrupt as exc:  # the guard said why; nothing of the batch is stored
            self._tree = None
            results = [exc] * len(batch)
        except Exception as exc:  # any failure: nothing of the batch is stored
            self._tree = None  # the stored state is the truth: read it again
            log.error(
                "ledger append failed", extra={"batch": len(batch), "error": type(exc).__name__}
            )
            results = [LedgerUnavailable(f"ledger append failed: {type(exc).__name__}")] * len(
                batch
            )
        else:
            self.batches += 1
            self.appended += len(batch)
            if self._on_commit is not None:
                self._on_commit(results)  # type: ignore[arg-type]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Waiter, Any]]] = {}
        for waiter, result in zip(batch, results, strict=True):
            by_loop.setdefault(waiter.loop, []).append((waiter, result))
        for loop, pairs in by_loop.items():
            # A loop that closed while we committed has nobody waiting on it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._resolve, pairs)

    def _resolve(self, pairs: list[tuple[_Waiter, Any]]) -> None:
        for waiter, result in pairs:
            if not waiter.future.done():
                if isinstance(result, Exception):
                    waiter.future.set_exception(result)
                else:
                    waiter.future.set_result(result)
            elif isinstance(result, Appended) and waiter.entry.fields[0] == "exchange":
                # Stored, but its request stopped waiting and was answered without data.
                task = asyncio.get_running_loop().create_task(self._compensate(waiter, result))
                self._compensating.add(task)
                task.add_done_callback(self._compensating.discard)

    async def _compensate(self, waiter: _Waiter, stored: Appended) -> None:
        exchange_id = waiter.entry.fields[2]
        covert = json.loads(waiter.entry.fields[-1]).get("hidden_until")
        try:
            await self.append(
                rec.undelivered(exchange_id, stored.index, list(waiter.entry.subjects), covert),
                waiter.entry.covert,  # under the same covert keys, found by the same lookup
            )
        except Exception as exc:  # the log is then the only trace: say so loudly
            log.error(
                "undelivered exchange not corrected in the ledger",
                extra={"index": stored.index, "error": type(exc).__name__},
            )
            return
        self.compensated += 1
        log.warning("undelivered exchange corrected in the ledger", extra={"index": stored.index})


def _expire(future: asyncio.Future[Appended]) -> None:
    if not future.done():  # the writer skips it if it has not taken it yet
        future.set_exception(TimeoutError("ledger commit timed out"))

"""The checkpoint signer in a process of its own, so that its fold never stalls the exchanges.

Owns ``SignerProcess``: one child process per signing gateway process, started at its first
checkpoint, that opens the same database, keeps its own copy of the subject map
(``storage.ledger.mapcache``) from one checkpoint to the next, and runs
``publisher.sign_checkpoint_kept`` when asked — the map's fold, the signing transaction under
the sequencing lock, the kept ``checkpoint.last`` — exactly as the gateway would in a thread.
Signing every ``ENLACE_CHECKPOINT_INTERVAL`` folds every entry since the previous map head:
tens of milliseconds of pure Python in one piece (docs/performance.md), which in the gateway's
own process hold the GIL from its event loop and delay every exchange in flight. In a child it
is the kernel's scheduler, not the GIL, that shares the core, and a woken event loop runs at
once.

The parent keeps every decision: one signer at a time and the verdict on the history
(``guard.HistoryGuard.sign``), the signer role (``leader``). A child that died since the last
checkpoint or while signing is started again and the signing tried once more on the new one
(a second death fails that round, logged, as a failed signing does). The child exits when the
gateway process does, however it ends (``_exit_with``: the fork server's children are not the
gateway's, so no parent-death signal can tell them). An in-memory SQLite database cannot be
opened by a second process: it is signed in the gateway's process, as is everything with
``ENLACE_SIGNER_PROCESS=0``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import select
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from gateway.kernel import pki
from gateway.kernel.ledger import checkpoint
from gateway.kernel.settings import Settings
from gateway.storage.db import Database, open_database
from gateway.storage.ledger import publisher
from gateway.storage.ledger.errors import LedgerCorrupt

#: A fork server started once per gateway process, with these modules loaded: each child is
#: forked from it, clean of the gateway's threads, in milliseconds.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


class SigningFailed(Exception):
    """The child could not sign (a database error, say); the message says what it met."""


# In the child: what ``_start`` opened, for every ``_sign``.
_child: tuple[Database, checkpoint.NoteSigner, Path] | None = None


def _exit_with(gateway: int) -> None:  # pragma: no cover - in the child
    """Exit as soon as process ``gateway`` has (Linux: a thread waiting on its pidfd)."""
    if not hasattr(os, "pidfd_open"):
        return
    try:
        pidfd = os.pidfd_open(gateway)
    except ProcessLookupError:  # gone already
        os._exit(0)

    def wait() -> None:
        select.select([pidfd], [], [])  # readable once the process has exited
        os._exit(0)  # nothing of ours to flush: a signing cut short is rolled back

    threading.Thread(target=wait, name="enlace-signer-watch", daemon=True).start()


def _start(url: str, settings: Settings, gateway: int) -> None:  # pragma: no cover - in the child
    global _child
    _exit_with(gateway)
    keys = pki.PkiDir(settings.pki_dir)
    _child = (
        open_database(url, settings, create=False),
        keys.load_checkpoint_signer(),
        keys.checkpoint_last,
    )


#: What the child answers: its pid, the checkpoint and how long its phases took.
_Signed = tuple[int, publisher.StoredCheckpoint, publisher.SigningTimes]


def _sign() -> _Signed:  # pragma: no cover - in the child
    assert _child is not None
    database, signer, last_file = _child
    times = publisher.SigningTimes()
    try:
        stored = publisher.sign_checkpoint_kept(database.write, signer, last_file, times)
        return os.getpid(), stored, times
    except LedgerCorrupt:
        raise
    except Exception as exc:  # not every driver's error pickles: its words do
        raise SigningFailed(f"{type(exc).__name__}: {exc}") from None


class SignerProcess:
    """Signs the checkpoints of the database at ``url`` in a child process (module docstring)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self._settings = settings
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        #: The child that signed last (None before the first checkpoint).
        self.pid: int | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    1,
                    mp_context=_CONTEXT,
                    initializer=_start,
                    initargs=(self._url, self._settings, os.getpid()),
                )
            return self._pool

    def _discard(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False)

    def sign(self, times: publisher.SigningTimes | None = None) -> publisher.StoredCheckpoint:
        """Sign a checkpoint now, in the child (blocking: call it from a thread); ``times``, if
        given, filled in with the child's timing of it. A child found dead — since the last
        checkpoint or during this one — is replaced and the signing tried once more: a signing
        cut short committed all of itself or nothing, and signing a size already signed
        returns that checkpoint (``publisher.sign_checkpoint``)."""
        for _ in range(2):
            pool = self._executor()
            try:
                self.pid, stored, took = pool.submit(_sign).result()
            except BrokenProcessPool:
                self._discard(pool)
                continue
            if times is not None:
                times.fold, times.wait, times.locked = took.fold, took.wait, took.locked
            return stored
        raise SigningFailed("the signer process died twice in a row")

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

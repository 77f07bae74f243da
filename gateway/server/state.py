"""The state one gateway process holds, and its lifecycle.

``Gateway`` owns the keys, the registry snapshot (polled, with its freshness), the ledger writer,
the periodic checkpoint signing (when this process holds the signer role, ``leader``) and its
submission to witnesses, the replay filters (its own cache, the claims every process shares), the
client limits (its own; the rates every process shares, with Redis), the built sources and the
metrics. Routes receive it; it knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from pathlib import Path

from gateway.kernel import pki, schemas
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ledger import record
from gateway.kernel.protocol import replay, signing
from gateway.kernel.settings import Settings
from gateway.kernel.sources import Source
from gateway.server import held, limits
from gateway.server.metrics import Metrics
from gateway.server.replay_claims import SharedReplay
from gateway.server.shared_rates import SharedRates
from gateway.server.signer_process import SignerProcess
from gateway.server.sources import build_source
from gateway.server.witnesses import Witnesses, endpoints
from gateway.storage import exclusive, rates, registry
from gateway.storage import replay as replay_store
from gateway.storage.db import Database, check_durable, open_database
from gateway.storage.ledger import publisher, queries
from gateway.storage.ledger.errors import LedgerCorrupt
from gateway.storage.ledger.guard import HistoryGuard
from gateway.storage.ledger.leader import SignerElection
from gateway.storage.ledger.sequencer import LedgerWriter

log = logging.getLogger("enlace.gateway")

#: Seconds a nonce or X-Road-Id is remembered: the signature window, its skew, and a margin.
REPLAY_WINDOW = signing.MAX_AGE_SECONDS + signing.MAX_SKEW_SECONDS + 5


class Gateway:
    """Everything one gateway process holds: keys, registry snapshot, ledger writer, sources."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or open_database(settings.database_url, settings)
        check_durable(self.db, allow_unsafe=settings.allow_unsafe_db)
        self.pki = pki.PkiDir(settings.pki_dir)
        self.ca = pki.load_cert(self.pki.ca_cert)
        self.issued = pki.IssuedChecker(self.ca)
        self.signer = self.pki.load_pair(self.pki.gateway("sign"))
        self.signer_keyid = pki.keyid(self.signer.cert)
        self._pseudonym_key, self._digest_key, self._covert_key = self.pki.load_ledger_secrets()
        self.checkpoint_signer = self.pki.load_checkpoint_signer()
        self.metrics = Metrics()
        #: Fails closed once storage does not extend the last signed head: no receipt, no
        #: checkpoint, every exchange ``Server.LedgerCorrupt``, ``/healthz`` says why.
        self.guard = HistoryGuard(self.checkpoint_signer, self.pki.checkpoint_last)
        self.writer = LedgerWriter(
            self.db,
            max_batch=settings.ledger_max_batch,
            max_pending=settings.ledger_max_pending,
            commit_timeout=settings.ledger_commit_timeout,
            on_commit=lambda batch: self.metrics.ledger_batch.observe(len(batch)),
            guard=self.guard,
        )
        #: Whether this process signs checkpoints (one signer among N processes, ``leader``).
        self.election = SignerElection(self.db.write)
        #: The checkpoints' fold and signature, out of this process (None: in a thread here).
        self.signer_process = (
            SignerProcess(self.db.url, settings)
            if settings.signer_process and not self.db.in_memory
            else None
        )
        self._exclusive: Path | None = None
        self.contracts = schemas.catalogue(settings.schema_dir)  # validators built once
        self.inflight = limits.InFlight(settings.max_inflight)
        self.client_limits = limits.ClientLimiter(
            limits.Limit(settings.client_rate, settings.client_burst, settings.client_concurrency)
        )
        #: Client rates every process shares (Redis only; else ``client_limits`` alone).
        log = f"{self.checkpoint_signer.name}+{self.checkpoint_signer.key_id:08x}"
        rate_store = rates.open_rates(settings.redis_url, settings.redis_timeout, log)
        self.shared_rates = (
            SharedRates(rate_store, self.client_limits, self.metrics.rate_fallbacks.inc)
            if rate_store is not None
            else None
        )
        self.held = held.HeldRefusals(
            settings.client_throttle_delay, settings.client_throttle_max_held
        )
        self.unsigned = limits.UnsignedFloods(settings.unsigned_per_minute, settings.unsigned_burst)
        self._floods_since = record.timestamp()
        self.replay = replay.ReplayCache(REPLAY_WINDOW)  # this process's first filter
        #: Claims every gateway process shares (PostgreSQL or Redis; None on SQLite).
        store = replay_store.open_store(self.db.write, settings.redis_url, settings.redis_timeout)
        self.shared_replay = SharedReplay(store, REPLAY_WINDOW) if store is not None else None
        with self.db.read.connect() as conn:
            self.snapshot = registry.load(conn)
        self._registry_checked = time.monotonic()
        self._sources: dict[str, tuple[registry.SourceEntry, Source]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self.witnesses = Witnesses(
            endpoints(settings.witnesses),
            self.db.write,
            self.db.read,
            interval=settings.checkpoint_interval,
            timeout=settings.witness_timeout,
            max_backoff=settings.witness_max_backoff,
            counter=self.metrics.witness_submissions,
        )
        self._witnessing: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._flood_recorder: asyncio.Task[None] | None = None
        self._replay_purger: asyncio.Task[None] | None = None

    def pseudonym(self, curp: str) -> str:
        return record.pseudonym(self._pseudonym_key, curp)

    def body_digest(self, body: bytes) -> str:
        """A body's keyed digest for the ledger (docs/ledger.md §1)."""
        return record.body_digest(self._digest_key, body)

    def covert_subject(self, pseudonym: str, exchange_id: str) -> str:
        """The key a covert exchange records ``pseudonym`` under (docs/ledger.md §12)."""
        return record.covert_subject(self._covert_key, pseudonym, exchange_id)

    @property
    def pseudonym_key(self) -> bytes:
        """The instance's pseudonym secret, as read at start (the citizen view derives its
        challenge and token keys from it)."""
        return self._pseudonym_key

    def source(self, code: str) -> Source:
        entry = self.snapshot.sources[code]
        cached = self._sources.get(code)
        if cached is None or cached[0] != entry:
            try:
                built = build_source(entry, self.pki, timeout=self.settings.source_timeout)
            except Exception as exc:  # a misconfigured source must not break the gateway
                log.error("source unusable", extra={"source": code, "error": repr(exc)})
                message = f"source {code} is misconfigured"
                raise EnlaceError("Server.SourceUnavailable", message) from exc
            if cached is not None:
                self._retire(cached[1])
            cached = (entry, built)
            self._sources[code] = cached
        return cached[1]

    def _retire(self, source: Source) -> None:
        """Close a replaced source once the calls it may still be serving have timed out."""

        async def close_later() -> None:
            try:
                await asyncio.sleep(self.settings.source_timeout)
            finally:
                await source.aclose()

        task = asyncio.get_running_loop().create_task(close_later())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _close_sources(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await asyncio.gather(
            *(source.aclose() for _, source in self._sources.values()), return_exceptions=True
        )
        self._sources.clear()

    async def start(self) -> None:
        # SQLite: one gateway process per database file (``db.in_use`` for a second one).
        self._exclusive = exclusive.acquire(self.db.url)
        await asyncio.to_thread(self._seed_replay)
        self.writer.start()
        self._poller = asyncio.create_task(self._poll_registry())
        self._checkpointer = asyncio.create_task(self._sign_checkpoints())
        self._flood_recorder = asyncio.create_task(self._record_floods())
        if self.shared_replay is not None:
            self._replay_purger = asyncio.create_task(self._purge_replay_claims())
        if self.witnesses.states:
            self._witnessing = asyncio.create_task(self.witnesses.run())

    def _seed_replay(self) -> None:
        """Remember the X-Road-Ids this ledger recorded within the replay window: the same
        signed bytes must be refused after a restart as before it."""
        since = record.timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=REPLAY_WINDOW))
        with self.db.read.connect() as conn:
            ids = queries.recent_exchange_ids(conn, since)
            seeded = self.replay.seed(f"i:{key}" for key in ids)
        log.info("replay cache seeded from the ledger", extra={"exchange_ids": seeded})

    async def stop(self) -> None:
        self.held.release_all()
        tasks = (
            self._poller,
            self._checkpointer,
            self._flood_recorder,
            self._replay_purger,
            self._witnessing,
        )
        for task in tasks:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.witnesses.close()
        await self.record_floods()
        await self._close_sources()
        await asyncio.to_thread(self.writer.stop)
        await asyncio.to_thread(self._sign_checkpoint_logged)  # cover every receipt handed out
        await asyncio.to_thread(self.election.release)
        if self.signer_process is not None:
            await asyncio.to_thread(self.signer_process.close)
        if self.shared_replay is not None:
            self.shared_replay.close()
        if self.shared_rates is not None:
            self.shared_rates.close()
        self.db.dispose()
        exclusive.release(self._exclusive)
        self._exclusive = None

    def sign_checkpoint(self) -> publisher.StoredCheckpoint:
        """Sign a checkpoint of the ledger now, unless the newest one already covers it
        (``LedgerCorrupt``, for good, if the tree does not extend the last signed head)."""
        via = self.signer_process.sign if self.signer_process is not None else None
        times = publisher.SigningTimes()
        stored = self.guard.sign(self.db.write, via, times)
        self.metrics.observe_signing(times)
        self.witnesses.wake()
        return stored

    def _sign_checkpoint_logged(self) -> None:
        """Sign if this process holds the signer role (else try to take it, for next time)."""
        if not self.election.holds():
            return
        try:
            self.sign_checkpoint()
        except LedgerCorrupt:  # the guard logged why, once; exchanges are refused
            return
        except Exception as exc:  # keep serving; the next round retries
            reason = {"code": type(exc).__name__, "reason": str(exc)}
            log.error("checkpoint signing failed", extra=reason)

    async def _sign_checkpoints(self) -> None:
        while True:
            await asyncio.to_thread(self._sign_checkpoint_logged)
            await asyncio.sleep(self.settings.checkpoint_interval)

    async def record_floods(self) -> int:
        """Ledger one entry per address whose unverified requests went unrecorded since the
        last time, with their count; how many entries that made."""
        since, self._floods_since = self._floods_since, record.timestamp()
        counts = self.unsigned.drain()
        for address, count in sorted(counts.items()):
            try:
                await self.writer.append(record.flood(address, count, since))
            except Exception as exc:  # keep serving; the count is lost, the log says so
                log.error("flood not recorded", extra={"count": count, "error": type(exc).__name__})
        return len(counts)

    async def _record_floods(self) -> None:
        while True:
            await asyncio.sleep(self.settings.unsigned_flood_interval)
            await self.record_floods()

    async def _purge_replay_claims(self) -> None:
        assert self.shared_replay is not None
        while True:
            await asyncio.sleep(REPLAY_WINDOW)
            try:
                await asyncio.to_thread(self.shared_replay.purge)
            except Exception as exc:  # the next round retries; claims expire regardless
                log.warning("replay purge failed", extra={"error": type(exc).__name__})

    def registry_stale(self) -> bool:
        """True when the registry has not been confirmed for ``registry_max_age`` seconds."""
        return time.monotonic() - self._registry_checked > self.settings.registry_max_age

    def _reload(self) -> None:
        with self.db.read.connect() as conn:
            if registry.version(conn) != self.snapshot.version:
                self.snapshot = registry.load(conn)
                log.info("registry reloaded", extra={"version": self.snapshot.version})
        self._registry_checked = time.monotonic()

    async def _poll_registry(self) -> None:
        while True:
            await asyncio.sleep(self.settings.registry_poll)
            try:
                await asyncio.to_thread(self._reload)
            except Exception as exc:  # serve from the last good snapshot until it is too old
                log.warning("registry reload failed", extra={"error": type(exc).__name__})

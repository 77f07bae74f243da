"""Submitting the gateway's checkpoints to its witnesses, off the request path.

Owns, per configured witness (``ENLACE_WITNESSES``), the submission loop and what it last
learned: after the publisher signed a checkpoint, each witness whose cosignature the newest
checkpoint lacks is sent it (C2SP tlog-witness ``add-checkpoint``, with a consistency proof from
the size the witness last cosigned, through ``kernel/ledger/witness_client``), with a time-out;
a verified cosignature line is appended to the stored note, so ``/v1/ledger/checkpoint`` and
bundles serve the cosigned checkpoint. A failure or refusal is logged with its reason (never
personal data: a checkpoint holds none) and retried later, the wait doubling up to
``ENLACE_WITNESS_MAX_BACKOFF``; ``/healthz`` shows each witness's state and ``/metrics``
counts outcomes. A refusal (the witness saw an inconsistent or rolled-back checkpoint) never
stops exchanges: the history guard decides that; it is for an operator to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import sqlalchemy as sa

from gateway.kernel.ledger import checkpoint, witness_client
from gateway.storage.ledger import proofs, publisher

log = logging.getLogger("enlace.witnesses")

__all__ = ["WitnessEndpoint", "WitnessState", "Witnesses", "endpoints"]


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the gateway submits to: its submission prefix and cosignature key."""

    url: str
    verifier: checkpoint.CosignatureVerifier


def endpoints(entries: Sequence[str]) -> list[WitnessEndpoint]:
    """The witnesses of ``ENLACE_WITNESSES`` (already validated by the settings)."""
    found = []
    for entry in entries:
        url, _, vkey = entry.partition(" ")
        found.append(WitnessEndpoint(url, checkpoint.CosignatureVerifier.from_vkey(vkey.strip())))
    return found


@dataclass
class WitnessState:
    """What the gateway last learned of one witness (shown by ``/healthz``)."""

    endpoint: WitnessEndpoint
    size: int = 0  # the size it last cosigned, as far as the gateway knows (0: unknown)
    outcome: str = "pending"  # pending | cosigned | refused | unavailable | bad_answer
    reason: str | None = None
    failures: int = 0
    retry_at: float = 0.0
    cosigned_at: float | None = None

    def shown(self) -> dict[str, Any]:
        return {
            "name": self.endpoint.verifier.name,
            "url": self.endpoint.url,
            "status": self.outcome,
            "cosigned_size": self.size,
            "reason": self.reason,
            "failures": self.failures,
        }


def _outcome(exc: witness_client.WitnessError) -> str:
    if isinstance(exc, witness_client.WitnessRefused):
        return "refused"
    if isinstance(exc, witness_client.WitnessBadAnswer):
        return "bad_answer"
    return "unavailable"


class Witnesses:
    """The submission loop over every configured witness (module docstring)."""

    def __init__(
        self,
        configured: Sequence[WitnessEndpoint],
        engine: sa.Engine,
        read: sa.Engine,
        *,
        interval: float,
        timeout: float,
        max_backoff: float,
        counter: Any = None,
    ) -> None:
        self.states = [WitnessState(endpoint) for endpoint in configured]
        self._engine, self._read = engine, read
        self._interval, self._timeout, self._max_backoff = interval, timeout, max_backoff
        self._counter = counter
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """A checkpoint was just signed: submit it now rather than at the next round (callable
        from any thread: the signer runs in one)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def shown(self) -> list[dict[str, Any]]:
        return [state.shown() for state in self.states]

    @property
    def refused(self) -> list[WitnessState]:
        return [state for state in self.states if state.outcome == "refused"]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _latest(self) -> publisher.StoredCheckpoint | None:
        with self._read.connect() as conn:
            return publisher.latest_checkpoint(conn)

    def _proof(self, old: int, new: int) -> list[bytes]:
        with self._read.connect() as conn:
            return proofs.consistency_proof(conn, old, new)

    def _store(self, size: int, line: bytes) -> None:
        with self._engine.begin() as conn:
            publisher.add_cosignature(conn, size, line)

    async def submit_all(self, now: float | None = None) -> None:
        """One round: every due witness whose cosignature the newest checkpoint lacks."""
        latest = await asyncio.to_thread(self._latest)
        if latest is None or not self.states:
            return
        moment = time.monotonic() if now is None else now
        due = [s for s in self.states if s.retry_at <= moment and not _cosigned(latest, s)]
        if not due:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        # One at a time: each appends to the same stored note.
        for state in due:
            await self._submit(state, latest)

    async def _submit(self, state: WitnessState, latest: publisher.StoredCheckpoint) -> None:
        assert self._session is not None
        name = state.endpoint.verifier.name

        async def proof_from(old: int) -> list[bytes]:
            return await asyncio.to_thread(self._proof, old, latest.size)

        try:
            cosignature = await witness_client.submit(
                self._session,
                state.endpoint.url,
                latest.note,  # other witnesses' lines are ignored by this one
                state.endpoint.verifier,
                proof_from,
                old_size=state.size if state.size <= latest.size else 0,
                timeout=self._timeout,
            )
            await asyncio.to_thread(self._store, latest.size, cosignature.line)
        except witness_client.WitnessError as exc:
            self._failed(state, exc)
            return
        except Exception as exc:  # storage: the next round retries
            self._failed(state, witness_client.WitnessUnavailable(f"{type(exc).__name__}: {exc}"))
            return
        if self._counter is not None:
            self._counter.labels("cosigned").inc()
        state.size, state.outcome, state.reason, state.failures = latest.size, "cosigned", None, 0
        state.retry_at, state.cosigned_at = 0.0, time.time()
        log.info("witness cosigned checkpoint", extra={"witness": name, "size": latest.size})

    def _failed(self, state: WitnessState, exc: witness_client.WitnessError) -> None:
        outcome = _outcome(exc)
        if isinstance(exc, witness_client.WitnessSizeConflict):
            state.size = exc.size  # a witness ahead of the log: it says the log shrank
        state.outcome, state.reason = outcome, str(exc)
        state.failures += 1
        wait = min(self._max_backoff, self._interval * 2 ** min(state.failures, 20))
        state.retry_at = time.monotonic() + wait
        if self._counter is not None:
            self._counter.labels(outcome).inc()
        level = logging.ERROR if outcome == "refused" else logging.WARNING
        log.log(
            level,
            f"witness {outcome.replace('_', ' ')}",
            extra={"witness": state.endpoint.verifier.name, "reason": str(exc), "retry_in": wait},
        )

    async def run(self) -> None:
        """Submit after each checkpoint signed (or each interval), until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                await self.submit_all()
            except Exception as exc:  # keep trying: the checkpoint is served uncosigned meanwhile
                log.error("witness round failed", extra={"reason": f"{type(exc).__name__}: {exc}"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()


def _cosigned(latest: publisher.StoredCheckpoint, state: WitnessState) -> bool:
    """Whether the stored note already carries this witness's valid cosignature."""
    try:
        opened = checkpoint.open_note(latest.note, [state.endpoint.verifier])
    except checkpoint.NoteError:
        return False
    return state.endpoint.verifier.name in opened.verified_names

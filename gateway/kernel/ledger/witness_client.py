"""A log's side of C2SP tlog-witness: submit a checkpoint to a witness, get its cosignature.

``add_checkpoint`` makes one ``POST <url>/add-checkpoint`` (bounded answer, bounded time) and
returns the witness's cosignature, verified with the witness's key; a 409 naming the witness's
size is ``WitnessSizeConflict`` so that the submitter can retry from that size. ``submit`` does
that retry: it starts from the size the caller believes the witness has (0 if it knows nothing),
and on a conflict asks the caller for a proof from the witness's size and tries once more.

This is the one network client of the ledger's core: it lives in the kernel, beside
``witnessing`` (whose formats it speaks), so that the gateway's checkpoint publisher, the CLI and
tests can all use it; it takes the caller's ``aiohttp.ClientSession`` (the protocol asks for
keep-alive connections).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from gateway.kernel.bounded import BodyTooLarge, read_bounded
from gateway.kernel.ledger import checkpoint
from gateway.kernel.ledger.witnessing import (
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    cosignature_from,
    parse_size_body,
)

__all__ = [
    "MAX_ANSWER",
    "Cosignature",
    "ProofFrom",
    "WitnessBadAnswer",
    "WitnessError",
    "WitnessRefused",
    "WitnessSizeConflict",
    "WitnessUnavailable",
    "add_checkpoint",
    "submit",
]

#: The largest answer read from a witness: a few cosignature lines, or a short refusal.
MAX_ANSWER = 64 * 1024
#: Seconds one submission may take, connection included.
DEFAULT_TIMEOUT = 10.0


class WitnessError(Exception):
    """The witness gave no cosignature."""


class WitnessUnavailable(WitnessError):
    """The witness could not be reached, was too slow, failed (5xx) or answered too much."""


class WitnessBadAnswer(WitnessError):
    """The witness said 200 but gave no valid cosignature from its key."""


class WitnessRefused(WitnessError):
    """The witness refused the checkpoint (4xx); ``status`` is the HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"witness refused ({status}): {reason}")
        self.status = status
        self.reason = reason


class WitnessSizeConflict(WitnessRefused):
    """409 with the witness's latest cosigned size: the request's ``old`` was not it."""

    def __init__(self, size: int) -> None:
        super().__init__(409, f"its latest cosigned size is {size}")
        self.size = size


@dataclass(frozen=True)
class Cosignature:
    """A witness's verified cosignature: the note signature line and its timestamp."""

    line: bytes
    timestamp: int


async def add_checkpoint(
    session: aiohttp.ClientSession,
    url: str,
    request: AddCheckpoint,
    witness: checkpoint.CosignatureVerifier,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> Cosignature:
    """One ``add-checkpoint`` call to the witness whose submission prefix is ``url``."""
    try:
        async with session.post(
            f"{url.rstrip('/')}/add-checkpoint",
            data=request.body(),
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            status, kind = response.status, response.content_type
            body = await read_bounded(response, MAX_ANSWER)
    except (aiohttp.ClientError, TimeoutError, BodyTooLarge) as exc:
        raise WitnessUnavailable(f"witness {url}: {type(exc).__name__}: {exc}") from exc
    if status == 200:
        try:
            line, timestamp = cosignature_from(body, request, witness)
        except checkpoint.NoteError as exc:
            raise WitnessBadAnswer(f"witness {url}: {exc}") from exc
        return Cosignature(line, timestamp)
    if status == 409 and kind == SIZE_CONTENT_TYPE:
        try:
            raise WitnessSizeConflict(parse_size_body(body))
        except ValueError as exc:
            raise WitnessBadAnswer(f"witness {url}: 409 answer: {exc}") from exc
    reason = body[:200].decode("utf-8", "replace").strip()
    if 400 <= status < 500:
        raise WitnessRefused(status, reason)
    raise WitnessUnavailable(f"witness {url}: HTTP {status}: {reason}")


ProofFrom = Callable[[int], Awaitable[Sequence[bytes]]]
"""The log's consistency proof from an older size to the checkpoint's size."""


async def submit(
    session: aiohttp.ClientSession,
    url: str,
    note: bytes,
    witness: checkpoint.CosignatureVerifier,
    proof_from: ProofFrom,
    *,
    old_size: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> Cosignature:
    """Get the witness's cosignature on the signed checkpoint ``note``.

    ``old_size`` is the size the caller believes the witness last cosigned (0: unknown). If the
    witness names another size no larger than the checkpoint's, the request is made once more
    with a proof from that size; a witness ahead of the checkpoint stays a
    ``WitnessSizeConflict`` (the log would have to have shrunk).
    """

    async def request(old: int) -> AddCheckpoint:
        return AddCheckpoint.of(old, await proof_from(old) if old else [], note)

    first = await request(old_size)
    try:
        return await add_checkpoint(session, url, first, witness, timeout=timeout)
    except WitnessSizeConflict as conflict:
        if conflict.size > first.checkpoint.size:
            raise
        retry = await request(conflict.size)
    return await add_checkpoint(session, url, retry, witness, timeout=timeout)

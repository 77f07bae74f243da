"""Public, read-only proof endpoints of the audit ledger (docs/ledger.md §7).

* ``GET /v1/ledger/checkpoint``: the newest signed checkpoint note, with any cosignatures;
* ``GET /v1/ledger/proof/inclusion?index=I&size=N``: leaf hash and RFC 9162 inclusion proof;
* ``GET /v1/ledger/proof/consistency?old=M&new=N``: RFC 9162 consistency proof.

Proofs are answered for trees up to the newest signed checkpoint only (``Ledger.BeyondTree``
beyond it): the live, unsigned size is neither revealed nor proven. Once the gateway's history
guard found storage inconsistent with its last signed head, every endpoint answers
``Ledger.Unavailable``.

Entries are deliberately not served: they hold no personal data but do hold business data
(who asked what, when, why); a citizen gets their own through the citizen view. Every parameter
is a canonical decimal within bounds, given exactly once, and nothing else is accepted. Errors
are ``{"error": {"code", "message"}}`` with the catalogue's ``Ledger.*`` codes
(``gateway.server.responses``, which also serialises the bodies by hand: the proof endpoints
are meant to take heavy traffic).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway.kernel.encoding import b64encode
from gateway.kernel.errors import CodedError
from gateway.server import responses
from gateway.server.requests import query_lists
from gateway.server.state import Gateway
from gateway.storage.ledger import proofs
from gateway.storage.ledger.errors import LedgerCorrupt, OutOfRange

log = logging.getLogger("enlace.ledger_api")

#: Sizes and indexes are stored as signed 64-bit integers.
MAX_VALUE = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}

T = TypeVar("T")


class LedgerApiError(CodedError):
    """A refusal of the proof endpoints: a ``Ledger.*`` code of the catalogue."""


def _params(request: Request, *names: str) -> list[int]:
    """The named query parameters as bounded integers; anything else is an error."""
    query = query_lists(request)
    unexpected = set(query) - set(names)
    if unexpected:
        raise LedgerApiError("Ledger.InvalidParameter", f"unknown parameter {min(unexpected)!r}")
    return [_bounded(name, query.get(name, [])) for name in names]


def _bounded(name: str, given: list[str]) -> int:
    if len(given) != 1:
        raise LedgerApiError("Ledger.InvalidParameter", f"give {name!r} exactly once")
    if not _DECIMAL.fullmatch(given[0]) or int(given[0]) > MAX_VALUE:
        raise LedgerApiError(
            "Ledger.InvalidParameter", f"{name!r} must be a decimal from 0 to {MAX_VALUE}"
        )
    return int(given[0])


class LedgerProofs:
    """The proof endpoints over one gateway's ledger database."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def _read(self, work: Callable[[sa.Connection], T]) -> T:
        def run() -> T:
            with self.gw.db.read.connect() as conn:
                return work(conn)

        try:
            return await asyncio.to_thread(run)
        except OutOfRange as exc:
            raise LedgerApiError("Ledger.BeyondTree", str(exc)) from exc
        except (sa.exc.SQLAlchemyError, LedgerCorrupt) as exc:
            log.error("ledger read failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            raise LedgerApiError("Ledger.Unavailable", "the ledger cannot be read now") from exc

    def _signed(self, conn: sa.Connection, size: int) -> None:
        """Proofs are for signed trees only: never the live, unsigned size (``OutOfRange``)."""
        signed = self.gw.guard.signed_size(conn)
        if size > signed:
            raise OutOfRange(f"tree size {size} is beyond the newest signed checkpoint's {signed}")

    async def latest_checkpoint(self, request: Request) -> Response:
        """The newest signed checkpoint (C2SP tlog-checkpoint note), as text; never smaller
        than one this gateway signed or served before (``HistoryGuard.published``)."""
        _params(request)
        head = await self._read(self.gw.guard.published)
        if head is None:
            raise LedgerApiError("Ledger.NoCheckpoint", "no checkpoint has been signed yet")
        return Response(
            head.note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    async def inclusion(self, request: Request) -> Response:
        """Leaf hash and inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        index, size = _params(request, "index", "size")
        if index >= size:
            raise LedgerApiError("Ledger.InvalidParameter", "index must be smaller than size")

        def read(conn: sa.Connection) -> tuple[bytes, list[bytes]]:
            self._signed(conn, size)
            return proofs.inclusion_proof(conn, index, size)

        leaf, proof = await self._read(read)
        payload = {
            "index": index,
            "tree_size": size,
            "leaf_hash": b64encode(leaf),
            "proof": [b64encode(h) for h in proof],
        }
        return responses.json_response(payload, headers=_IMMUTABLE)

    async def consistency(self, request: Request) -> Response:
        """Consistency proof from the tree of ``old`` entries to the tree of ``new`` entries."""
        old, new = _params(request, "old", "new")
        if old > new:
            raise LedgerApiError("Ledger.InvalidParameter", "old must not exceed new")

        def read(conn: sa.Connection) -> list[bytes]:
            self._signed(conn, new)
            return proofs.consistency_proof(conn, old, new)

        proof = await self._read(read)
        payload = {"old_size": old, "new_size": new, "proof": [b64encode(h) for h in proof]}
        return responses.json_response(payload, headers=_IMMUTABLE)


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(prefix="/v1/ledger")
    proofs = LedgerProofs(gateway)
    answer = responses.answering(responses.error_response, LedgerApiError)
    routes.add_api_route("/checkpoint", answer(proofs.latest_checkpoint), methods=["GET"])
    routes.add_api_route("/proof/inclusion", answer(proofs.inclusion), methods=["GET"])
    routes.add_api_route("/proof/consistency", answer(proofs.consistency), methods=["GET"])
    return routes

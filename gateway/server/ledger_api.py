"""Public, read-only proof endpoints of the audit ledger (docs/ledger.md §7).

* ``GET /v1/ledger/checkpoint``: the newest signed checkpoint note, with any cosignatures;
* ``GET /v1/ledger/proof/inclusion?index=I&size=N``: leaf hash and RFC 9162 inclusion proof;
* ``GET /v1/ledger/proof/consistency?old=M&new=N``: RFC 9162 consistency proof.

Entries are deliberately not served: they hold no personal data but do hold business data
(who asked what, when, why); a citizen gets their own through the citizen view. Every parameter
is a canonical decimal within bounds, given exactly once, and nothing else is accepted. Errors
are ``{"error": {"code", "message"}}`` with the catalogue's ``Ledger.*`` codes. Bodies are
serialised by hand (no response models): the proof endpoints are meant to take heavy traffic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway.kernel.encoding import b64encode
from gateway.kernel.errors import CodedError
from gateway.storage.ledger import proofs, publisher
from gateway.storage.ledger.errors import LedgerCorrupt, OutOfRange

if TYPE_CHECKING:
    from gateway.server.app import Gateway

log = logging.getLogger("enlace.ledger_api")

#: Sizes and indexes are stored as signed 64-bit integers.
MAX_VALUE = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}

T = TypeVar("T")


class LedgerApiError(CodedError):
    """A refusal of the proof endpoints: a ``Ledger.*`` code of the catalogue."""


def _json(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _params(request: Request, *names: str) -> list[int]:
    """The named query parameters as bounded integers; anything else is an error."""
    query = request.query_params
    unexpected = set(query) - set(names)
    if unexpected:
        raise LedgerApiError("Ledger.InvalidParameter", f"unknown parameter {min(unexpected)!r}")
    values = []
    for name in names:
        given = query.getlist(name)
        if len(given) != 1:
            raise LedgerApiError("Ledger.InvalidParameter", f"give {name!r} exactly once")
        if not _DECIMAL.fullmatch(given[0]) or int(given[0]) > MAX_VALUE:
            raise LedgerApiError(
                "Ledger.InvalidParameter", f"{name!r} must be a decimal from 0 to {MAX_VALUE}"
            )
        values.append(int(given[0]))
    return values


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(prefix="/v1/ledger")

    async def read(work: Callable[[sa.Connection], T]) -> T:
        def run() -> T:
            with gateway.db.read.connect() as conn:
                return work(conn)

        try:
            return await asyncio.to_thread(run)
        except OutOfRange as exc:
            raise LedgerApiError("Ledger.BeyondTree", str(exc)) from exc
        except (sa.exc.SQLAlchemyError, LedgerCorrupt) as exc:
            log.error("ledger read failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            raise LedgerApiError("Ledger.Unavailable", "the ledger cannot be read now") from exc

    def answer(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except LedgerApiError as exc:
                error = {"error": {"code": exc.code, "message": exc.message}}
                return _json(error, exc.status)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    @routes.get("/checkpoint")
    @answer
    async def latest_checkpoint(request: Request) -> Response:
        """The newest signed checkpoint (C2SP tlog-checkpoint note), as text."""
        _params(request)
        head = await read(publisher.latest_checkpoint)
        if head is None:
            raise LedgerApiError("Ledger.NoCheckpoint", "no checkpoint has been signed yet")
        return Response(
            head.note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    @routes.get("/proof/inclusion")
    @answer
    async def inclusion(request: Request) -> Response:
        """Leaf hash and inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        index, size = _params(request, "index", "size")
        if index >= size:
            raise LedgerApiError("Ledger.InvalidParameter", "index must be smaller than size")
        leaf, proof = await read(lambda conn: proofs.inclusion_proof(conn, index, size))
        payload = {
            "index": index,
            "tree_size": size,
            "leaf_hash": b64encode(leaf),
            "proof": [b64encode(h) for h in proof],
        }
        return _json(payload, headers=_IMMUTABLE)

    @routes.get("/proof/consistency")
    @answer
    async def consistency(request: Request) -> Response:
        """Consistency proof from the tree of ``old`` entries to the tree of ``new`` entries."""
        old, new = _params(request, "old", "new")
        if old > new:
            raise LedgerApiError("Ledger.InvalidParameter", "old must not exceed new")
        proof = await read(lambda conn: proofs.consistency_proof(conn, old, new))
        payload = {"old_size": old, "new_size": new, "proof": [b64encode(h) for h in proof]}
        return _json(payload, headers=_IMMUTABLE)

    return routes

"""Step 4 of an exchange: ask the trusted source, and let out only what its contract allows.

In this order: the source answers within ``Settings.source_timeout`` (its ``Source.*`` codes
passed on; ``Server.SourceUnavailable``, ``Server.SourceTimeout``, ``Server.SourceError``
otherwise), signed by a registered, unrevoked key; and the answer's data conforms to the
response schema, else ``Server.SourceError`` and nothing of it is sent. The subjects the source
names join the exchange's.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.kernel import schemas
from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol import evidence
from gateway.kernel.sources import SignedAnswer, SourceFailure, SourceRequest
from gateway.server.exchange.context import Authorised, Exchange, Parsed
from gateway.server.state import Gateway

log = logging.getLogger("enlace.exchange")


async def call(
    gw: Gateway, parsed: Parsed, allowed: Authorised, request: SourceRequest, ex: Exchange
) -> str:
    """The source's evidence token for ``request``, checked against the response schema."""
    code = allowed.service.source
    answer = await _answer(gw, code, parsed, request, ex)
    signer = gw.snapshot.certs.get(answer.signer)
    if signer is None or signer.revoked:
        log.error("source signed with an unregistered or revoked key", extra={"source": code})
        raise EnlaceError("Server.SourceError", "the source's signing key is not valid")
    # The request's subject is in already (parse.py): its pseudonym is not computed twice.
    ex.subjects.update(gw.pseudonym(s) for s in answer.subjects if s != parsed.subject)
    check_answer(allowed.contract, answer.token, code)
    return answer.token


async def _answer(
    gw: Gateway, code: str, parsed: Parsed, request: SourceRequest, ex: Exchange
) -> SignedAnswer:
    """The source's answer, every failure turned into the gateway's code for it."""
    source = gw.source(code)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(gw.settings.source_timeout):
            return await source.answer(
                parsed.target.service,
                request,
                exchange_id=ex.exchange_id or "",
                client=str(parsed.client),
            )
    except SourceFailure as exc:
        raise EnlaceError(exc.code, exc.message) from exc
    except TimeoutError as exc:
        raise EnlaceError("Server.SourceTimeout") from exc
    except EnlaceError:
        raise
    except Exception as exc:  # a broken source must not break the gateway
        log.error("source failed", extra={"source": code, "error": type(exc).__name__})
        raise EnlaceError("Server.SourceError") from exc
    finally:
        gw.metrics.observe_source(code, time.perf_counter() - started)


def check_answer(contract: schemas.Contract, token: str, source: str) -> None:
    """Nothing leaves the gateway that does not conform to the service's response schema."""
    try:
        contract.check_response(evidence.unverified_claims(token).get("data"))
    except schemas.SchemaViolation as exc:
        log.error(
            "source answer violates the service schema",
            extra={"source": source, "path": exc.path, "keyword": exc.keyword},
        )
        raise EnlaceError(
            "Server.SourceError", "the source's answer does not conform to the service schema"
        ) from exc

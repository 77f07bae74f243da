"""The exchange's steps in their order, and the one way every exchange ends: ledgered, signed.

``handle`` runs the steps (``parse``, ``authenticate``, ``authorise``, ``call``; for a
metaservice, ``parse``, ``authenticate`` and ``metaservices``); whatever they
end with, an answer or a refusal, becomes the response body, is recorded (``record``) and only
then signed (``sign``) for sending. A failure to record replaces the answer with
``Server.LedgerUnavailable``: no data leaves unrecorded.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from gateway.kernel.errors import EnlaceError
from gateway.kernel.ledger import record as ledger_record
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.server.exchange import (
    authenticate,
    authorise,
    call,
    metaservices,
    parse,
    record,
    sign,
)
from gateway.server.exchange.context import Exchange, Inbound, MetaParsed
from gateway.server.responses import dump, error_payload
from gateway.server.state import Gateway

log = logging.getLogger("enlace.exchange")


async def handle(gw: Gateway, inbound: Inbound) -> sign.Signed:
    """Run one exchange to its signed response; never raises for anything the client sent."""
    ex = Exchange(
        received_at=ledger_record.timestamp(),
        method=inbound.method,
        request_hash=signing.request_hash(inbound.headers),
        # Kept from the start, so that even the earliest refusal answers under the
        # consumer's own id (its SDK matches the answer to the request by it).
        exchange_id=parse.exchange_id(inbound.headers),
    )
    failure: EnlaceError | None = None
    try:
        payload = await _guarded(gw, inbound, ex)
    except EnlaceError as exc:
        failure, payload = exc, {}
    exchange_id = ex.exchange_id or str(uuid.uuid4())
    if failure is None:
        return await _respond(gw, ex, exchange_id, 200, None, dump(payload))
    body = dump(error_payload(failure, exchange_id=exchange_id))
    return await _respond(gw, ex, exchange_id, failure.status, failure.code, body)


async def _guarded(gw: Gateway, inbound: Inbound, ex: Exchange) -> dict[str, Any]:
    try:
        return await _steps(gw, inbound, ex)
    except EnlaceError:
        raise
    except Exception as exc:  # a bug must still be recorded and answered cleanly
        # The type only: a message or traceback could carry request data.
        log.error("exchange failed unexpectedly", extra={"error": type(exc).__name__})
        raise EnlaceError("Server.InternalError") from exc


async def _steps(gw: Gateway, inbound: Inbound, ex: Exchange) -> dict[str, Any]:
    """The answer's payload — the source's evidence, or a metaservice's answer — or the first
    check's refusal."""
    await parse.read(inbound, ex, max_body=gw.settings.max_body)
    if gw.registry_stale():
        raise EnlaceError("Server.RegistryUnavailable")
    parsed = parse.parse(inbound, ex, public_hosts=gw.settings.public_hosts, pseudonym=gw.pseudonym)
    authenticate.authenticate(gw, inbound, parsed, ex)
    if isinstance(parsed, MetaParsed):
        server = parse.base_url(inbound, gw.settings.public_url)
        return metaservices.answer(gw.snapshot, gw.contracts, parsed, inbound.query, server=server)
    allowed = authorise.authorise(gw.snapshot, gw.contracts, parsed, ex)
    request = authorise.source_request(inbound, parsed, allowed, ex.request_body)
    token = await call.call(gw, parsed, allowed, request, ex)
    return {"exchange_id": ex.exchange_id, "service": ex.service, "evidence": token}


async def _respond(
    gw: Gateway, ex: Exchange, exchange_id: str, status: int, error: str | None, body: bytes
) -> sign.Signed:
    """Record the exchange as answered with ``body``, then sign that answer for sending."""
    headers = sign.headers_for(ex, exchange_id)
    entry = record.entry(ex, exchange_id, status=status, error=error, response=body)
    try:
        appended = await record.append(gw.writer, entry)
    except EnlaceError as fail:
        refused = dump(error_payload(fail, exchange_id=exchange_id))
        return sign.sign(gw, fail.status, refused, {**headers, h.ERROR: fail.code})
    headers |= sign.receipt_headers(appended, exchange_id, gw.checkpoint_signer)
    headers |= sign.error_header(error)
    outcome = record.outcome(error)
    gw.metrics.exchanges.labels(outcome).inc()
    log.debug(
        "exchange",
        extra={
            "outcome": outcome,
            "status": status,
            "error": error,
            "ledger_index": appended.index,
        },
    )
    return sign.sign(gw, status, body, headers)

"""The exchange's steps in their order, and the one way every exchange ends: ledgered, signed.

``handle`` runs the steps (``parse``, ``authenticate``, ``authorise`` (``admit``, then the
rest), ``call``; for a metaservice, ``parse``, ``authenticate``, ``authorise.admit`` and
``metaservices``); whatever they
end with, an answer or a refusal, becomes the response body, is recorded (``record``) and only
then signed (``sign``) for sending. A failure to record replaces the answer with
``Server.LedgerUnavailable``: no data leaves unrecorded.

The body is read (``parse.read``) before the exchange takes a slot of the global in-flight cap:
a slow sender then holds only its own connection (capped per address, bounded by the body's
deadline), never the capacity that would shed everyone else.

Two answers are signed but not recorded, because recording them is what an overload or a flood
would exhaust (``gateway/server/limits.py``): an exchange shed past the global in-flight cap
(``Server.Overloaded``, before any step but the body's read ran), and a refusal of a request
whose signature did not verify, or that repeated one that did (``Client.Replay``), from an
address past its budget (``Client.RateLimited``, counted and ledgered in aggregate instead).
Both carry ``Retry-After``; neither carries a receipt.

A verified client's own ``Client.RateLimited`` is signed and ledgered, then held a bounded
delay before it is sent, out of the in-flight cap and the client's count
(``gateway/server/held.py``): a flooding client's refusals cost it time, not everyone else.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from gateway.kernel.errors import EnlaceError
from gateway.kernel.ledger import record as ledger_record
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.server import limits
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

T = TypeVar("T")


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
    _, unread = await _guarded(_read(gw, inbound, ex))  # before any slot: the module docstring
    if unread is not None:
        return await _answer(gw, inbound, ex, {}, unread)
    if not gw.inflight.enter():
        shed = EnlaceError("Server.Overloaded", retry_after=limits.BUSY_RETRY_AFTER)
        return _unrecorded(gw, ex, shed, "shed")
    try:
        payload, failure = await _guarded(_steps(gw, inbound, ex))
        answer = await _answer(gw, inbound, ex, payload or {}, failure)
    finally:
        gw.inflight.leave()
        if ex.admitted:
            gw.client_limits.release(ex.admitted)
    if ex.throttled:  # out of every count: a held refusal takes no one's slot
        await gw.held.hold(ex.throttled)
    return answer


async def _answer(
    gw: Gateway,
    inbound: Inbound,
    ex: Exchange,
    payload: dict[str, Any],
    failure: EnlaceError | None,
) -> sign.Signed:
    """The exchange's end: ``payload`` answered, or ``failure`` refused; recorded, signed."""
    exchange_id = ex.exchange_id or str(uuid.uuid4())
    if failure is None:
        return await _respond(gw, ex, exchange_id, dump(payload), None)
    if not ex.client_verified and failure.code.startswith("Client."):
        wait = gw.unsigned.suppressed(inbound.peer, time.monotonic())
        if wait:
            flood = EnlaceError(
                "Client.RateLimited",
                "too many requests that did not verify from this address",
                retry_after=wait,
            )
            return _unrecorded(gw, ex, flood, "suppressed")
    if ex.client_verified and failure.code == "Client.RateLimited":
        ex.throttled = failure.retry_after or limits.BUSY_RETRY_AFTER
    body = dump(error_payload(failure, exchange_id=exchange_id))
    return await _respond(gw, ex, exchange_id, body, failure, _retry_after(failure))


def _retry_after(error: EnlaceError) -> dict[str, str]:
    return {"Retry-After": str(error.retry_after)} if error.retry_after else {}


def _unrecorded(gw: Gateway, ex: Exchange, error: EnlaceError, outcome: str) -> sign.Signed:
    """``error`` answered signed but not recorded (shed, or one of an unsigned flood)."""
    exchange_id = ex.exchange_id or str(uuid.uuid4())
    headers = sign.headers_for(ex, exchange_id) | {h.ERROR: error.code} | _retry_after(error)
    gw.metrics.count_exchange(outcome)
    return sign.sign(gw, error.status, dump(error_payload(error, exchange_id=exchange_id)), headers)


async def _guarded(step: Awaitable[T]) -> tuple[T | None, EnlaceError | None]:
    """``step``'s result, or the refusal it raised; a bug is still answered and recorded, as
    ``Server.InternalError``."""
    try:
        return await step, None
    except EnlaceError as exc:
        return None, exc
    except Exception as exc:
        # The type only: a message or traceback could carry request data.
        log.error("exchange failed unexpectedly", extra={"error": type(exc).__name__})
        return None, EnlaceError("Server.InternalError")


async def _read(gw: Gateway, inbound: Inbound, ex: Exchange) -> None:
    await parse.read(inbound, ex, max_body=gw.settings.max_body, timeout=gw.settings.body_timeout)


async def _steps(gw: Gateway, inbound: Inbound, ex: Exchange) -> dict[str, Any]:
    """The answer's payload — the source's evidence, or a metaservice's answer — or the first
    check's refusal; the body already read."""
    if gw.registry_stale():
        raise EnlaceError("Server.RegistryUnavailable")
    parsed = parse.parse(inbound, ex, public_hosts=gw.settings.public_hosts, pseudonym=gw.pseudonym)
    await authenticate.authenticate(gw, inbound, parsed, ex)
    client = str(parsed.client)
    await authorise.admit(gw.snapshot, gw.client_limits, gw.shared_rates, client, ex)
    if isinstance(parsed, MetaParsed):
        server = parse.base_url(inbound, gw.settings.public_url)
        return metaservices.answer(gw.snapshot, gw.contracts, parsed, inbound.query, server=server)
    allowed = authorise.authorise(gw.snapshot, gw.contracts, parsed, ex)
    request = authorise.source_request(inbound, parsed, allowed, ex.request_body)
    token = await call.call(gw, parsed, allowed, request, ex)
    return {"exchange_id": ex.exchange_id, "service": ex.service, "evidence": token}


async def _respond(
    gw: Gateway,
    ex: Exchange,
    exchange_id: str,
    body: bytes,
    failure: EnlaceError | None,
    extra: dict[str, str] | None = None,
) -> sign.Signed:
    """Record the exchange as answered with ``body`` (``failure``'s refusal, or 200), then sign
    that answer for sending (with ``extra`` headers, unsigned: ``Retry-After``)."""
    status, error = (200, None) if failure is None else (failure.status, failure.code)
    headers = sign.headers_for(ex, exchange_id) | (extra or {})
    recorded, covert = record.subjects(ex, exchange_id, gw.covert_subject)
    entry = record.entry(
        ex,
        exchange_id,
        status=status,
        error=error,
        response=body,
        digest=gw.body_digest,
        recorded_subjects=recorded,
    )
    try:
        appended = await record.append(gw.writer, entry, covert)
    except EnlaceError as fail:
        refused = dump(error_payload(fail, exchange_id=exchange_id))
        return sign.sign(gw, fail.status, refused, {**headers, h.ERROR: fail.code})
    headers |= sign.receipt_headers(appended, exchange_id, gw.checkpoint_signer)
    headers |= sign.error_header(error)
    outcome = record.outcome(error)
    gw.metrics.count_exchange(outcome)
    _log(ex, exchange_id, outcome, status, failure, appended.index)
    return sign.sign(gw, status, body, headers)


def _log(
    ex: Exchange,
    exchange_id: str,
    outcome: str,
    status: int,
    failure: EnlaceError | None,
    index: int,
) -> None:
    """One line per exchange: refusals and failures with their code and reason. Only who asked
    for which service: never the subject, the official or the case (docs/operations.md)."""
    level = {"allowed": logging.DEBUG, "failed": logging.WARNING}.get(outcome, logging.INFO)
    if not log.isEnabledFor(level):  # allowed exchanges, at the default level
        return
    fields = {
        "exchange_id": exchange_id,
        "client": ex.client,
        "service": ex.service,
        "outcome": outcome,
        "status": status,
        "ledger_index": index,
    }
    if failure is not None:
        fields |= {"code": failure.code, "reason": failure.message}
    log.log(level, f"exchange {outcome}", extra=fields)

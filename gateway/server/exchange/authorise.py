"""Step 3 of an exchange: may this verified client use this service, for this purpose.

``admit``, for every exchange and metaservice: the client subsystem registered
(``Client.UnknownClient``), within its concurrency limit (this process's) and its rate (this
process's, or every process's with Redis: ``gateway/server/shared_rates.py``), else
``Client.RateLimited`` (``gateway/server/limits.py``); an admitted exchange is named in
``Exchange.admitted`` for the pipeline to release. Then ``authorise``: the service registered
(``Client.UnknownService``), the method allowed (``Client.MethodNotAllowed``),
``Enlace-Subject: unknown`` only for an operation that discovers its subjects
(``Client.InvalidSubject``), then a grant for (client, service) listing the purpose and the
legal basis (``acl.decide``: ``Client.AccessDenied``, ``Client.PurposeNotGranted``,
``Client.LegalBasisNotGranted``); last, the query and body conform to the service's request
schema (``source_request``: ``Client.InvalidBody``, the message led by the JSON path of the
offending field). Runs only after ``authenticate``: registry details are told to a verified
client alone.
"""

from __future__ import annotations

import time

from gateway.kernel import acl, schemas
from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol import headers as h
from gateway.kernel.sources import SourceRequest
from gateway.server.exchange.context import Authorised, Exchange, Inbound, Parsed
from gateway.server.exchange.parse import json_body
from gateway.server.limits import ClientLimiter, rate_refused
from gateway.server.shared_rates import SharedRates
from gateway.storage.registry import Snapshot


async def admit(
    snapshot: Snapshot,
    limiter: ClientLimiter,
    shared: SharedRates | None,
    client: str,
    ex: Exchange,
) -> None:
    """The client registered, and this exchange within its limits: counted in (named in
    ``ex.admitted``), or refused ``Client.RateLimited``."""
    if client not in snapshot.subsystems:
        raise EnlaceError("Client.UnknownClient", f"{client} is not registered")
    own = snapshot.limits.get(client)
    if shared is None:
        limiter.admit(client, own, time.monotonic())
        ex.admitted = client
        return
    limit = limiter.default.overridden(own)
    limiter.enter(client, limit)  # in flight first: a refusal spends none of the rate
    ex.admitted = client
    wait = await shared.spend(client, limit)
    if wait:
        raise rate_refused(limit, wait)


def authorise(
    snapshot: Snapshot,
    contracts: schemas.Catalogue,
    parsed: Parsed,
    ex: Exchange,
) -> Authorised:
    """The service and its contract, if the admitted client may call it as the request asks."""
    service_id = str(parsed.target.service)
    client = str(parsed.client)
    service = snapshot.services.get(service_id)
    if service is None:
        raise EnlaceError("Client.UnknownService", f"{service_id} is not registered")
    if ex.method not in service.methods:
        raise EnlaceError("Client.MethodNotAllowed", f"use {', '.join(sorted(service.methods))}")
    contract = contracts.get(service.operation)
    if contract is None:
        raise EnlaceError("Server.InternalError", "the service has no schema")
    if parsed.subject is None and not contract.discovers_subjects:
        raise EnlaceError(
            "Client.InvalidSubject",
            f"{h.SUBJECT}: {h.UNKNOWN_SUBJECT} is only accepted by operations that "
            "discover their subjects",
        )
    acl.decide(snapshot.grants, client, service_id, ex.purpose or "", ex.legal_basis or "")
    return Authorised(service, contract)


def source_request(
    inbound: Inbound, parsed: Parsed, allowed: Authorised, body: bytes
) -> SourceRequest:
    """What the source is asked, once it conforms to the service's request schema."""
    request = SourceRequest(
        operation=allowed.service.operation,
        method=inbound.method,
        subject=parsed.subject,
        subpath=parsed.target.subpath,
        query=dict(inbound.query),
        body=json_body(body, inbound.headers.get("content-type")),
    )
    try:
        allowed.contract.check_request(request.query, request.body)
    except schemas.SchemaViolation as exc:
        raise EnlaceError("Client.InvalidBody", str(exc)) from exc
    return request

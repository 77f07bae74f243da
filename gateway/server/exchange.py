"""One exchange, from the consumer's signed request to the signed, ledgered response.

The order of checks is part of the security design: apart from "this key id is unknown",
nothing the registry holds (a key's owner or status, clients, services, grants) is revealed
before the signature verifies; the replay check comes after the signature (so that an attacker
cannot burn a victim's nonces); and the ledger append comes before the response is sent — if
it fails, the consumer gets ``Server.LedgerUnavailable`` and no data.

Every request is ledgered, but a request whose signature did not verify is recorded without
its data subject: otherwise anyone could write entries into any citizen's access log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.kernel import acl, curp, pki, schemas
from gateway.kernel.encoding import b64encode
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ids import ClientId, InvalidIdentifier, ServiceTarget, parse_target
from gateway.kernel.ledger import receipt, record
from gateway.kernel.protocol import evidence, signing
from gateway.kernel.protocol import headers as h
from gateway.kernel.sources import SourceFailure, SourceRequest
from gateway.storage.ledger.errors import LedgerUnavailable

if TYPE_CHECKING:
    from gateway.server.app import Gateway

log = logging.getLogger("enlace.exchange")

_MAX_HEADER = 256
#: All request headers together; far above what the protocol needs, far below a stall.
_MAX_HEADERS_TOTAL = 32 * 1024


def _digest(data: bytes) -> str:
    return "sha-256:" + b64encode(hashlib.sha256(data).digest())


def _printable(name: str, value: str) -> str:
    if len(value) > _MAX_HEADER or not value.isascii() or not value.isprintable():
        raise EnlaceError(
            "Client.InvalidHeader",
            f"{name} must be at most {_MAX_HEADER} printable ASCII characters",
        )
    return value


@dataclass
class Exchange:
    """What is known about an exchange so far; becomes its ledger record."""

    received_at: str
    method: str
    exchange_id: str | None = None
    client: str | None = None
    client_verified: bool = False
    service: str | None = None
    user_id: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    issue: str | None = None
    subjects: set[str] = field(default_factory=set)
    hidden_until: str | None = None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (``Client.BodyTooLarge``) as soon as it exceeds ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise EnlaceError("Client.BodyTooLarge", f"body exceeds {limit} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise EnlaceError("Client.BodyTooLarge", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _target_uri(request: Request, public_url: str | None) -> str:
    """The URI the client signed: from the configured public URL when the gateway sits behind a
    TLS-terminating proxy, else from the scheme served and the Host header."""
    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    base = public_url or f"{scope['scheme']}://{request.headers.get('host', '')}"
    uri = f"{base}{raw_path.decode('latin-1')}"
    return uri + ("?" + query.decode("latin-1") if query else "")


class ExchangeHandler:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def handle(self, request: Request) -> Response:
        ex = Exchange(received_at=record.timestamp(), method=request.method)
        hdrs = request.headers
        request_hash = signing.request_hash(hdrs)
        body = b""
        try:
            try:
                self._check_sizes(request)
                body = await read_body(request, self.gw.settings.max_body)
                status, payload, error = 200, await self._process(request, body, ex), None
                outcome = "allowed"
            except EnlaceError:
                raise
            except Exception as exc:  # a bug must still be recorded and answered cleanly
                # The type only: a message or traceback could carry request data.
                log.error("exchange failed unexpectedly", extra={"error": type(exc).__name__})
                raise EnlaceError("Server.InternalError") from exc
        except EnlaceError as exc:
            status, error = exc.status, exc.code
            payload = {"error": {"code": exc.code, "message": exc.message}}
            outcome = (
                "not_found"
                if exc.code == "Source.NotFound"
                else "refused"
                if exc.code.startswith("Client.")
                else "failed"
            )
        exchange_id = ex.exchange_id or str(uuid.uuid4())
        if error:
            payload["error"]["exchange_id"] = exchange_id
        out = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        entry = record.exchange(
            exchange_id=exchange_id,
            received_at=ex.received_at,
            responded_at=record.timestamp(),
            client=ex.client,
            client_verified=ex.client_verified,
            service=ex.service,
            method=ex.method,
            user_id=ex.user_id,
            purpose=ex.purpose,
            legal_basis=ex.legal_basis,
            issue=ex.issue,
            subjects=sorted(ex.subjects) if ex.client_verified else [],
            outcome=outcome,
            status=status,
            error=error,
            request_hash=request_hash,
            request_digest=_digest(body),
            response_digest=_digest(out),
            request_size=len(body),
            response_size=len(out),
            hidden_until=ex.hidden_until,
        )
        headers = {
            "Content-Type": "application/json",
            h.ID: exchange_id,
            h.REQUEST_HASH: request_hash,
        }
        if ex.service:
            headers[h.SERVICE] = ex.service
        try:
            appended = await self.gw.writer.append(entry)
        except (LedgerUnavailable, TimeoutError):
            log.error("exchange refused: ledger unavailable")
            fail = EnlaceError("Server.LedgerUnavailable")
            out = json.dumps(
                {"error": {"code": fail.code, "message": fail.message, "exchange_id": exchange_id}}
            ).encode()
            headers[h.ERROR] = fail.code
            return self.gw.signed_response(fail.status, out, headers)
        headers[h.LEDGER_INDEX] = str(appended.index)
        signer = self.gw.checkpoint_signer
        headers[h.RECEIPT] = receipt.issue(
            receipt.Receipt(
                signer.name,
                appended.index,
                appended.leaf_hash,
                exchange_id,
                appended.tree_size,
                appended.root,
            ),
            signer,
        )
        if error and not error.startswith("Source."):
            headers[h.ERROR] = error
        self.gw.metrics.exchanges.labels(outcome).inc()
        log.debug(
            "exchange",
            extra={
                "outcome": outcome,
                "status": status,
                "error": error,
                "ledger_index": appended.index,
            },
        )
        return self.gw.signed_response(status, out, headers)

    async def _process(self, request: Request, body: bytes, ex: Exchange) -> dict[str, Any]:
        gw, hdrs = self.gw, request.headers
        if gw.registry_stale():
            raise EnlaceError("Server.RegistryUnavailable")
        if gw.settings.public_hosts and hdrs.get("host") not in gw.settings.public_hosts:
            raise EnlaceError("Client.BadRequest", "unexpected Host")
        try:
            target: ServiceTarget = parse_target(request.path_params["path"])
        except InvalidIdentifier as exc:
            raise EnlaceError("Client.InvalidIdentifier", str(exc)) from exc
        ex.service = str(target.service)
        values = self._read_headers(hdrs, ex)
        client = values["client"]

        params = signing.read_params(hdrs)
        signing.check_created(params)
        entry = gw.snapshot.certs.get(params.keyid)
        if entry is None:
            raise EnlaceError("Client.UnknownKey", "keyid is not a registered certificate")
        # The signature first, so that a key's status is told only to whoever holds the key.
        message = signing.Request(
            request.method, _target_uri(request, gw.settings.public_url), dict(hdrs.items())
        )
        signing.verify_request(message, body, key=entry.cert.public_key(), key_id=params.keyid)
        if entry.revoked:
            raise EnlaceError("Client.CertificateRevoked")
        try:
            gw.issued.check(params.keyid, entry.cert, dt.datetime.now(dt.UTC))
        except pki.CertificateProblem as exc:
            code = (
                "Client.CertificateExpired"
                if exc.reason == "expired"
                else "Client.CertificateInvalid"
            )
            raise EnlaceError(code, str(exc)) from exc
        if entry.member != client.member:
            raise EnlaceError("Client.ClientMismatch", "the key belongs to another member")
        ex.client_verified = True
        # A covert grant hides every exchange under it, refused ones included.
        covert = gw.snapshot.grants.get((str(client), str(target.service)))
        if covert is not None and covert.hidden_until:
            ex.hidden_until = covert.hidden_until.isoformat()

        if not gw.replay.first_use(
            f"n:{params.keyid}:{params.nonce}", f"i:{client}:{ex.exchange_id}"
        ):
            raise EnlaceError("Client.Replay")
        snapshot = gw.snapshot
        if str(client) not in snapshot.subsystems:
            raise EnlaceError("Client.UnknownClient", f"{client} is not registered")
        service = snapshot.services.get(str(target.service))
        if service is None:
            raise EnlaceError("Client.UnknownService", f"{target.service} is not registered")
        if request.method not in service.methods:
            raise EnlaceError(
                "Client.MethodNotAllowed", f"use {', '.join(sorted(service.methods))}"
            )
        contract = gw.contracts.get(service.operation)
        if contract is None:
            raise EnlaceError("Server.InternalError", "the service has no schema")
        if values["subject"] is None and not contract.discovers_subjects:
            raise EnlaceError(
                "Client.InvalidSubject",
                f"{h.SUBJECT}: {h.UNKNOWN_SUBJECT} is only accepted by operations that "
                "discover their subjects",
            )
        acl.decide(
            snapshot.grants,
            str(client),
            str(target.service),
            ex.purpose or "",
            ex.legal_basis or "",
        )

        source_request = SourceRequest(
            operation=service.operation,
            method=request.method,
            subject=values["subject"],
            subpath=target.subpath,
            query=dict(request.query_params),
            body=self._json_body(body),
        )
        try:
            contract.check_request(source_request.query, source_request.body)
        except schemas.SchemaViolation as exc:
            raise EnlaceError("Client.InvalidBody", str(exc)) from exc
        answer = await self._call_source(service.source, target, source_request, ex, str(client))
        self._check_answer(contract, answer, service.source)
        return {"exchange_id": ex.exchange_id, "service": ex.service, "evidence": answer}

    @staticmethod
    def _check_sizes(request: Request) -> None:
        """Bound what reaches the parsers: the HTTP server itself does not limit header size."""
        total = sum(len(k) + len(v) for k, v in request.headers.raw)
        if total > _MAX_HEADERS_TOTAL:
            raise EnlaceError("Client.BadRequest", f"headers exceed {_MAX_HEADERS_TOTAL} bytes")

    def _read_headers(self, hdrs: Any, ex: Exchange) -> dict[str, Any]:
        """Validate the protocol headers, noting each value in the exchange once it is sane."""
        for name in h.REQUIRED_REQUEST:
            if not hdrs.get(name, "").strip():
                raise EnlaceError("Client.MissingHeader", f"{name} is required")
            # A repeated header could be read one way by the signature and another by us.
            if len(hdrs.getlist(name)) != 1:
                raise EnlaceError("Client.InvalidHeader", f"{name} must appear exactly once")
        xid = hdrs[h.ID].strip()
        if not acl.CODE.fullmatch(xid):
            raise EnlaceError(
                "Client.InvalidHeader", "X-Road-Id must be 1-128 of A-Z a-z 0-9 . _ : -"
            )
        ex.exchange_id = xid
        try:
            client = ClientId.parse(hdrs[h.CLIENT].strip())
        except InvalidIdentifier as exc:
            raise EnlaceError("Client.InvalidIdentifier", str(exc)) from exc
        ex.client = str(client)
        ex.user_id = _printable(h.USER_ID, hdrs[h.USER_ID].strip())
        ex.issue = _printable(h.ISSUE, hdrs[h.ISSUE].strip())
        ex.purpose = acl.check_code("purpose", hdrs[h.PURPOSE].strip())
        ex.legal_basis = acl.check_code("legal basis", hdrs[h.LEGAL_BASIS].strip())
        if hdrs[h.SUBJECT] == h.UNKNOWN_SUBJECT:
            # Only for operations that discover their subjects: checked once the service is known.
            return {"client": client, "subject": None}
        try:
            subject = curp.validate(hdrs[h.SUBJECT]).value
        except curp.InvalidCurp as exc:
            raise EnlaceError("Client.InvalidSubject", f"{exc.code}: {exc}") from exc
        ex.subjects.add(self.gw.pseudonym(subject))
        return {"client": client, "subject": subject}

    @staticmethod
    def _check_answer(contract: schemas.Contract, token: str, source: str) -> None:
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

    @staticmethod
    def _json_body(body: bytes) -> Any:
        if not body:
            return None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise EnlaceError("Client.InvalidBody", "body is not JSON") from exc

    async def _call_source(
        self, code: str, target: ServiceTarget, request: SourceRequest, ex: Exchange, client: str
    ) -> str:
        source = self.gw.source(code)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.gw.settings.source_timeout):
                answer = await source.answer(
                    target.service, request, exchange_id=ex.exchange_id or "", client=client
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
            self.gw.metrics.observe_source(code, time.perf_counter() - started)
        signer = self.gw.snapshot.certs.get(answer.signer)
        if signer is None or signer.revoked:
            log.error("source signed with an unregistered or revoked key", extra={"source": code})
            raise EnlaceError("Server.SourceError", "the source's signing key is not valid")
        ex.subjects.update(self.gw.pseudonym(s) for s in answer.subjects)
        return answer.token

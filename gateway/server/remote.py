"""The gateway's client for trusted sources that run as their own HTTPS services.

Owns the outgoing hop of a remote source: mutual TLS with the gateway's TLS certificate as the
client certificate, the registered certificate of the source as the *only* server certificate
accepted, one pooled aiohttp session per source (aiohttp costs a fraction of httpx's CPU per
request on this hop, performance.md), bounded time and size, and the mapping of every failure
to a gateway error code:

    cannot connect, connection refused or reset, TLS refused  -> Server.SourceUnavailable
    the source presents a certificate other than the registered one
                                                              -> Server.SourceUnavailable
    no answer within Settings.source_timeout                  -> Server.SourceTimeout
    garbage, too large, unexpected error code, evidence that does not verify or was issued
    for another service, exchange or client                   -> Server.SourceError
    Source.NotFound / Source.InvalidQuery                     -> passed on as they are

A wrong certificate is "unavailable", not "error": the handshake fails before a byte of the
request (which names the citizen) is sent, so the registered source was never reached: as far
as the exchange goes, it is down. The gateway's log says which (``tls_identity``).

Pinning: the TLS context trusts the registered certificate alone (OpenSSL partial-chain), so
another certificate fails the handshake even when the instance CA issued it. That the
registered certificate chains to the instance CA is checked when the source is built.

Evidence: one ``evidence.EvidenceVerifier`` per source, so the chain of the source's signing
certificate (its ``x5c``) is verified once per certificate; its validity at the token's ``iat``
is checked on every answer, and revocation by the exchange (``call.py``) against the registry.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509

from gateway.kernel import pki
from gateway.kernel.bounded import BodyTooLarge, read_bounded
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ids import ServiceId
from gateway.kernel.protocol import evidence
from gateway.kernel.protocol import source_wire as wire
from gateway.kernel.sources import SignedAnswer, SourceConfigError, SourceRequest
from gateway.storage.registry import SourceEntry

log = logging.getLogger("enlace.remote")

#: The largest answer accepted: the largest evidence token plus the envelope.
MAX_RESPONSE = evidence.MAX_TOKEN + 64 * 1024
#: Connecting (TCP and TLS handshake) may take at most this long, within the total time-out.
CONNECT_TIMEOUT = 2.0
DEFAULT_CONNECTIONS = 100
#: Every call's own headers, set once on the session. The gateway names itself rather than
#: aiohttp's version; it keeps no cookie a source sets (``DummyCookieJar``).
HEADERS = {"Content-Type": "application/json", "User-Agent": "Enlace"}


def client_ssl_context(pinned: x509.Certificate, cert: Path, key: Path) -> ssl.SSLContext:
    """TLS towards one source: present ``cert``; accept exactly ``pinned`` from the server."""
    context = ssl.create_default_context(cadata=pki.cert_pem(pinned))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the pinned leaf is the anchor
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


class RemoteSource:
    def __init__(
        self,
        entry: SourceEntry,
        *,
        ca: x509.Certificate,
        client_cert: tuple[Path, Path],
        timeout: float,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        if not entry.url or not entry.url.startswith("https://"):
            raise SourceConfigError(f"source {entry.code}: a remote source needs an https URL")
        if not entry.tls_cert_pem:
            raise SourceConfigError(f"source {entry.code}: no TLS certificate registered")
        pinned = x509.load_pem_x509_certificate(entry.tls_cert_pem.encode())
        try:
            pki.check_issued(pinned, ca, dt.datetime.now(dt.UTC))
        except pki.CertificateProblem as exc:
            raise SourceConfigError(f"source {entry.code}: TLS certificate: {exc}") from exc
        self.code = entry.code
        self.url = entry.url.rstrip("/") + wire.CALL_PATH
        self.ca = ca
        self._evidence = evidence.EvidenceVerifier(ca)
        self.connections = connections
        self._ssl = client_ssl_context(pinned, *client_cert)
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=min(CONNECT_TIMEOUT, timeout)
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created in the running loop, on first use
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=self.connections, limit_per_host=self.connections
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers=HEADERS,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def answer(
        self, service: ServiceId, request: SourceRequest, *, exchange_id: str, client: str
    ) -> SignedAnswer:
        call = wire.encode_call(service, request, exchange_id=exchange_id, client=client)
        try:
            async with self._client().post(self.url, data=call) as response:
                status, raw = response.status, await read_bounded(response, MAX_RESPONSE)
        except aiohttp.ClientConnectorCertificateError as exc:
            self._log("tls_identity", exc)
            raise EnlaceError(
                "Server.SourceUnavailable",
                "the source presented a certificate other than the one registered for it",
            ) from exc
        except (aiohttp.ClientConnectionError, ConnectionError) as exc:
            if isinstance(exc, aiohttp.ServerTimeoutError) and not isinstance(
                exc, aiohttp.ConnectionTimeoutError
            ):
                raise EnlaceError("Server.SourceTimeout") from exc
            self._log("unreachable", exc)
            raise EnlaceError("Server.SourceUnavailable") from exc
        except BodyTooLarge as exc:
            self._log("too_large", exc)
            raise EnlaceError("Server.SourceError", "the source's answer is too large") from exc
        except aiohttp.ClientError as exc:
            self._log("bad_http", exc)
            raise EnlaceError("Server.SourceError", "the source's answer is not HTTP") from exc
        return self._check(status, raw, service, exchange_id, client)

    def _check(
        self, status: int, raw: bytes, service: ServiceId, exchange_id: str, client: str
    ) -> SignedAnswer:
        try:
            reply = wire.decode_reply(status, raw)
            proof = self._evidence.verify(reply.token)
        except wire.WireError as exc:
            self._log("bad_answer", exc)
            raise EnlaceError("Server.SourceError", f"the source's answer: {exc}") from exc
        except evidence.EvidenceError as exc:
            self._log("bad_evidence", exc)
            raise EnlaceError("Server.SourceError", f"the source's evidence: {exc.code}") from exc
        claims = proof.claims
        expected = {"iss": str(service), "exchange_id": exchange_id, "client": client}
        wrong = sorted(k for k, v in expected.items() if claims.get(k) != v)
        if wrong:
            log.error("source evidence mismatch", extra={"source": self.code, "claims": wrong})
            raise EnlaceError(
                "Server.SourceError", f"the source's evidence has other {', '.join(wrong)}"
            )
        return SignedAnswer(reply.token, reply.subjects, proof.keyid)

    def _log(self, problem: str, exc: BaseException) -> None:
        log.error(
            "remote source failed",
            extra={"source": self.code, "problem": problem, "error": type(exc).__name__},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

"""SAT as a trusted source: the ``valida-efirma`` and ``verifica-firma`` operations.

Owns the edges around ``gateway.kernel.efirma.validation``: the adapter (request bodies, options),
loading SAT CA and pinned responder certificates from directories, and the OCSP HTTP client
(aiohttp; POST ``application/ocsp-request``; bounded time and size). The rules and the verdict
live in ``validation``; the same ``check`` serves the adapter and ``enlace efirma check``.

Operations (both POST, JSON body):

- ``valida-efirma``: ``{"certificado": <base64 DER or PEM text>}``;
- ``verifica-firma``: ``{"certificado": ..., "firma": <base64>, "datos": <base64>}``: whether
  that certificate's key made a PKCS#1 v1.5 SHA-256 signature over the data.

The answer is ``Report.to_json()``. A body that is not one of these, or a certificate that is
not X.509 with SAT's subject layout, is ``Source.InvalidQuery``; a certificate that parses but
fails a rule is a normal answer with ``valid: false`` and its failure codes.

Options (``sources.options`` or ``enlace source run sat --option KEY=VALUE``):

``trust_dir``        directory of SAT CA certificates (``*.pem``, ``*.crt``, ``*.cer``); the
                     self-signed ones are the trust anchors, the rest intermediates. Required.
``ocsp_url``         the OCSP responder. Without it every answer is ``indeterminate``.
``ocsp_responders``  directory of pinned responder certificates (like openssl ``-VAfile``).
``ocsp_timeout``     seconds for one OCSP round trip, default 3.
``ocsp_max_age``     seconds a response's thisUpdate may lag behind now, default 3600.
``ocsp_hash``        CertID hash, ``sha1`` (SAT's and openssl's default) or ``sha256``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from gateway.kernel.bounded import BodyTooLarge, read_bounded
from gateway.kernel.curp import InvalidCurp
from gateway.kernel.curp import validate as validate_curp
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.efirma.errors import SatError
from gateway.kernel.efirma.validation import OcspPolicy, OcspTransportError, Trust, check
from gateway.kernel.encoding import EncodingError, b64decode
from gateway.kernel.sources import SourceAnswer, SourceFailure, SourceRequest

OCSP_CONTENT_TYPE = "application/ocsp-response"
MAX_OCSP_RESPONSE = 64 * 1024
MAX_CERTIFICATE_TEXT = 16 * 1024
MAX_SIGNATURE_TEXT = 4 * 1024
MAX_DATA_TEXT = 2 * 1024 * 1024
_CERT_SUFFIXES = (".pem", ".crt", ".cer")
_MAX_TRUST_FILES = 200
_OCSP_CONNECTIONS = 20


class SatConfigError(SatError):
    """The SAT source's options or certificate directories are unusable."""

    code = "sat.config"


# --- configuration ---------------------------------------------------------------------------


def load_certificates(directory: Path) -> list[x509.Certificate]:
    """Every certificate in the PEM/DER files of ``directory`` (not recursive)."""
    if not directory.is_dir():
        raise SatConfigError(f"{directory} is not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in _CERT_SUFFIXES)
    if len(files) > _MAX_TRUST_FILES:
        raise SatConfigError(f"{directory}: more than {_MAX_TRUST_FILES} certificate files")
    found: list[x509.Certificate] = []
    for path in files:
        data = path.read_bytes()
        try:
            if b"-----BEGIN" in data:
                found.extend(x509.load_pem_x509_certificates(data))
            else:
                found.append(x509.load_der_x509_certificate(data))
        except ValueError as exc:
            raise SatConfigError(f"{path}: not a certificate") from exc
    return found


def load_trust(trust_dir: Path, responders_dir: Path | None = None) -> Trust:
    """SAT CA certificates (self-signed ones are anchors) and pinned responder certificates."""
    certificates = load_certificates(trust_dir)
    roots = tuple(c for c in certificates if _self_signed(c))
    if not roots:
        raise SatConfigError(f"{trust_dir}: no self-signed (root) SAT CA certificate")
    responders = tuple(load_certificates(responders_dir)) if responders_dir else ()
    return Trust(
        roots=roots,
        intermediates=tuple(c for c in certificates if c not in roots),
        responders=responders,
    )


def ocsp_policy(options: Mapping[str, Any]) -> OcspPolicy:
    """Where and how to ask for revocation status, from the options above."""
    hash_algorithm = str(options.get("ocsp_hash", "sha1"))
    if hash_algorithm not in ("sha1", "sha256"):
        raise SatConfigError("ocsp_hash must be sha1 or sha256")
    url = options.get("ocsp_url") or None
    if url is not None and not str(url).startswith(("http://", "https://")):
        raise SatConfigError("ocsp_url must be an http or https URL")
    return OcspPolicy(
        url=str(url) if url else None,
        max_age=timedelta(seconds=_positive(options, "ocsp_max_age", 3600)),
        hash_algorithm=hash_algorithm,  # type: ignore[arg-type]
    )


def ocsp_fetcher(options: Mapping[str, Any]) -> HttpOcspFetcher:
    """The OCSP HTTP client, with ``ocsp_timeout`` from the options above."""
    return HttpOcspFetcher(_positive(options, "ocsp_timeout", 3))


def _positive(options: Mapping[str, Any], key: str, default: float) -> float:
    try:
        value = float(options.get(key, default))
    except (TypeError, ValueError) as exc:
        raise SatConfigError(f"{key} must be a number") from exc
    if not 0 < value <= 86400:
        raise SatConfigError(f"{key} must be between 0 and 86400 seconds")
    return value


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- OCSP over HTTP --------------------------------------------------------------------------


class HttpOcspFetcher:
    """Asks an OCSP responder over HTTP POST (RFC 6960 appendix A) with one pooled session.

    Every failure to get a response is an ``OcspTransportError`` with a stable code, never an
    exception the caller has to guess at. The session is created on first use (it belongs to
    the running event loop) and closed by ``aclose``.
    """

    def __init__(self, timeout: float, *, max_response: int = MAX_OCSP_RESPONSE) -> None:
        self.timeout = timeout
        self.max_response = max_response
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, url: str, request_der: bytes) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_OCSP_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        headers = {"Content-Type": "application/ocsp-request", "Accept": OCSP_CONTENT_TYPE}
        try:
            async with self._session.post(url, data=request_der, headers=headers) as response:
                if response.status != 200:
                    raise OcspTransportError(
                        f"responder answered HTTP {response.status}", code="ocsp.http_error"
                    )
                if response.content_type != OCSP_CONTENT_TYPE:
                    raise OcspTransportError(
                        f"responder answered {response.content_type!r}", code="ocsp.http_error"
                    )
                return await read_bounded(response, self.max_response)
        except TimeoutError as exc:
            raise OcspTransportError(
                f"responder did not answer within {self.timeout:g} s", code="ocsp.timeout"
            ) from exc
        except BodyTooLarge as exc:
            raise OcspTransportError(f"response too large: {exc}", code="ocsp.too_large") from exc
        except aiohttp.ClientError as exc:
            raise OcspTransportError(
                f"responder down ({type(exc).__name__})", code="ocsp.unavailable"
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- the adapter -----------------------------------------------------------------------------


class SatAdapter:
    operations = frozenset({"valida-efirma", "verifica-firma"})

    def __init__(self, trust: Trust, policy: OcspPolicy, fetcher: HttpOcspFetcher) -> None:
        self.trust = trust
        self.policy = policy
        self.fetcher = fetcher

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SatAdapter:
        if not options.get("trust_dir"):
            raise SatConfigError("the sat source needs the trust_dir option")
        responders = options.get("ocsp_responders")
        trust = load_trust(Path(options["trust_dir"]), Path(responders) if responders else None)
        return cls(trust, ocsp_policy(options), ocsp_fetcher(options))

    async def call(self, request: SourceRequest) -> SourceAnswer:
        if request.operation not in self.operations:
            raise SourceFailure("Source.InvalidQuery", f"unknown operation {request.operation}")
        body = request.body
        if not isinstance(body, dict):
            raise SourceFailure(
                "Source.InvalidQuery", f"{request.operation} needs a JSON object body (POST)"
            )
        certificate = _certificate(body.get("certificado"))
        signature = None
        if request.operation == "verifica-firma":
            signature = (
                _base64(body.get("firma"), "firma", MAX_SIGNATURE_TEXT),
                _base64(body.get("datos"), "datos", MAX_DATA_TEXT),
            )
        now = datetime.now(UTC)
        report = await check(
            certificate,
            trust=self.trust,
            policy=self.policy,
            fetch=self.fetcher,
            at=now,
            subject=request.subject,
            signature=signature,
        )
        return SourceAnswer(report.to_json(), _valid_curps(report.subjects()))

    async def aclose(self) -> None:
        await self.fetcher.aclose()


def _certificate(value: Any) -> efirma.SatCertificate:
    if not isinstance(value, str) or not value.strip():
        raise SourceFailure("Source.InvalidQuery", "certificado (base64 DER or PEM) is required")
    if len(value) > MAX_CERTIFICATE_TEXT:
        raise SourceFailure("Source.InvalidQuery", "certificado is too large")
    text = value.strip()
    data = text.encode() if text.startswith("-----BEGIN") else _base64(text, "certificado", None)
    try:
        return efirma.parse_certificate(data)
    except efirma.CertificateFormatError as exc:
        raise SourceFailure("Source.InvalidQuery", f"{exc.code}: {exc.message}") from exc


def _base64(value: Any, name: str, limit: int | None) -> bytes:
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        raise SourceFailure("Source.InvalidQuery", f"{name} must be a base64 string")
    try:
        return b64decode(value)
    except EncodingError as exc:
        raise SourceFailure("Source.InvalidQuery", f"{name} is not valid base64") from exc


def _valid_curps(values: tuple[str, ...]) -> tuple[str, ...]:
    """The certificate CURPs that are well-formed (the ledger pseudonymises only CURPs)."""
    valid = []
    for value in values:
        try:
            valid.append(validate_curp(value).value)
        except InvalidCurp:
            continue
    return tuple(valid)

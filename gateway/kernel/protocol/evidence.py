"""Portable evidence: a trusted source's answer as a compact JWS (RFC 7515) over RFC 8785 JSON.

The payload is the RFC 8785 canonical form of the claims, so the signed bytes are the
"cadena original" any party can recompute. The protected header carries the source's
certificate (``x5c``) so that a holder can verify the evidence offline with nothing but the
instance CA certificate:

    {"alg": "ES256", "typ": "enlace-evidence+jws", "kid": <x5t#S256>, "x5c": [<cert>]}

Claims: ``iss`` (the service id), ``iat`` (seconds), ``exchange_id``, ``client``, ``data``.
A certificate is checked as valid at ``iat``, so evidence stays verifiable after the source's
certificate expires, but not if it was signed outside the certificate's life.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from gateway.kernel import pki
from gateway.kernel.encoding import b64decode, b64encode, b64url_decode
from gateway.kernel.errors import CodedError
from gateway.kernel.ids import ServiceId

TYP = "enlace-evidence+jws"
ALGORITHMS = ["ES256"]
MAX_TOKEN = 4 * 1024 * 1024


def _registry() -> JWSRegistry:
    # The default 512-byte header limit is too small for a header that carries a certificate.
    registry = JWSRegistry(algorithms=ALGORITHMS)
    registry.max_header_length = 8 * 1024
    registry.max_payload_length = MAX_TOKEN
    return registry


REGISTRY = _registry()


class EvidenceError(CodedError):
    """Evidence does not verify; ``code`` says why."""


@dataclass(frozen=True)
class Evidence:
    token: str
    claims: dict[str, Any]
    signer: x509.Certificate

    @property
    def data(self) -> Any:
        return self.claims.get("data")


def canonical(value: Any) -> bytes:
    return rfc8785.dumps(value)


def sign(claims: dict[str, Any], signer: pki.KeyPair) -> str:
    der = signer.cert.public_bytes(serialization.Encoding.DER)
    header = {
        "alg": "ES256",
        "typ": TYP,
        "kid": pki.keyid(signer.cert),
        "x5c": [b64encode(der)],
    }
    return jws.serialize_compact(
        header, canonical(claims), ECKey.import_key(signer.key), registry=REGISTRY
    )


def issue(
    service: ServiceId, data: Any, signer: pki.KeyPair, *, exchange_id: str, client: str
) -> str:
    claims = {
        "iss": str(service),
        "iat": int(time.time()),
        "exchange_id": exchange_id,
        "client": client,
        "data": data,
    }
    return sign(claims, signer)


def _segment(token: str, index: int, what: str) -> dict[str, Any]:
    try:
        part = token.split(".")[index]
        value = json.loads(b64url_decode(part))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise EvidenceError("evidence.malformed", "not a compact JWS") from exc
    if not isinstance(value, dict):
        raise EvidenceError("evidence.malformed", f"JWS {what} is not an object")
    return value


def _header(token: str) -> dict[str, Any]:
    return _segment(token, 0, "header")


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of evidence *without verifying it*: only for evidence this process has just
    signed or already verified (the gateway checks the data against the service schema)."""
    return _segment(token, 1, "payload")


def _signing_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    """The key of a member's message-signing certificate (P-256, nonRepudiation, no TLS usage):
    only such a certificate may sign evidence; a TLS key of the same member may not."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise EvidenceError("evidence.untrusted_signer", "the signer's key is not ECDSA P-256")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.content_commitment:
        raise EvidenceError("evidence.untrusted_signer", "the signer's key is not for signing")
    try:
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return key
    raise EvidenceError("evidence.untrusted_signer", "the signer's key is a TLS key")


def _header_cert(header: dict[str, Any]) -> x509.Certificate:
    """The signer's certificate from a protected header of the expected ``typ`` and ``alg``."""
    if header.get("typ") != TYP or header.get("alg") not in ALGORITHMS:
        raise EvidenceError("evidence.malformed", "unexpected JWS typ or alg")
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise EvidenceError("evidence.malformed", "JWS header has no x5c certificate")
    try:
        return x509.load_der_x509_certificate(b64decode(chain[0]))
    except ValueError as exc:
        raise EvidenceError("evidence.malformed", "x5c certificate does not parse") from exc


def _verified_claims(token: str, key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The claims, once the signature verifies and the payload is its own canonical form."""
    try:
        result = jws.deserialize_compact(token, ECKey.import_key(key), registry=REGISTRY)
    except (JoseError, ValueError) as exc:
        raise EvidenceError("evidence.bad_signature", "JWS signature does not verify") from exc
    try:
        claims = json.loads(result.payload)
    except (ValueError, RecursionError) as exc:
        raise EvidenceError("evidence.malformed", "payload is not JSON") from exc
    if not isinstance(claims, dict) or canonical(claims) != result.payload:
        raise EvidenceError("evidence.not_canonical", "payload is not RFC 8785 canonical JSON")
    return claims


def _check_signer(
    cert: x509.Certificate, claims: dict[str, Any], ca_cert: x509.Certificate
) -> None:
    """The signer was issued by the CA, valid at ``iat``, and is the provider of ``iss``."""
    iat, iss = claims.get("iat"), claims.get("iss")
    if type(iat) is not int or not isinstance(iss, str):
        raise EvidenceError("evidence.malformed", "iss and iat claims are required")
    try:
        pki.check_issued(cert, ca_cert, dt.datetime.fromtimestamp(iat, dt.UTC))
    except pki.CertificateProblem as exc:
        raise EvidenceError("evidence.untrusted_signer", str(exc)) from exc
    try:
        provider = ServiceId.parse(iss).provider.member
    except ValueError as exc:
        raise EvidenceError("evidence.malformed", "iss is not a service identifier") from exc
    if pki.member_of(cert) != provider:
        raise EvidenceError(
            "evidence.wrong_signer",
            f"signed by {pki.member_of(cert)}, not by the provider {provider}",
        )


def verify(token: str, ca_cert: x509.Certificate) -> Evidence:
    """Verify signature, canonical form, signer chain and signer-issuer match; return the claims."""
    if not isinstance(token, str) or len(token) > 2 * MAX_TOKEN:
        raise EvidenceError("evidence.malformed", "evidence must be a compact JWS string")
    token = token.strip()
    cert = _header_cert(_header(token))
    claims = _verified_claims(token, _signing_key(cert))
    _check_signer(cert, claims, ca_cert)
    return Evidence(token, claims, cert)

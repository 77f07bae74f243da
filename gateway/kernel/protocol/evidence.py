"""Portable evidence: a trusted source's answer as a compact JWS (RFC 7515) over RFC 8785 JSON.

The payload is the RFC 8785 canonical form of the claims, so the signed bytes are the
"cadena original" any party can recompute. The protected header carries the source's
certificate (``x5c``) so that a holder can verify the evidence offline with nothing but the
instance CA certificate:

    {"alg": "ES256", "typ": "enlace-evidence+jws", "kid": <x5t#S256>, "x5c": [<cert>]}

Claims: ``iss`` (the service id), ``iat`` (seconds), ``exchange_id``, ``client``, ``data``.
A certificate is checked as valid at ``iat``, so evidence stays verifiable after the source's
certificate expires, but not if it was signed outside the certificate's life.

The compact serialisation is signed and verified here with ``cryptography`` directly (RFC 7515
§5.1, ES256 as RFC 7518 §3.4: the raw 64-byte r || s), which is all of JWS Enlace uses; the
tests check both directions against joserfc. For a hot path, ``EvidenceSigner`` builds the
protected header once per signing certificate, and ``EvidenceVerifier`` decodes a protected
header, parses its certificate, checks its key and verifies its CA signature once per header,
while the token's signature and the certificate's validity at ``iat`` are checked on every token.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.kernel import canonical_json, pki
from gateway.kernel.encoding import (
    EncodingError,
    b64decode,
    b64encode,
    b64url_decode,
    b64url_encode,
)
from gateway.kernel.errors import CodedError
from gateway.kernel.ids import MemberId, ServiceId

TYP = "enlace-evidence+jws"
ALGORITHMS = ["ES256"]
MAX_TOKEN = 4 * 1024 * 1024
#: The protected header's longest encoding: it carries a certificate.
MAX_HEADER = 8 * 1024
#: ES256 signatures: the P-256 curve's r and s, 32 bytes each (RFC 7518 §3.4).
_COORDINATE = 32
_ES256 = ec.ECDSA(hashes.SHA256())
#: Protected headers (so signers) an ``EvidenceVerifier`` remembers; past this it starts again
#: (a source signs with one or two certificates at a time, each with one header).
SIGNER_CACHE = 64


class EvidenceError(CodedError):
    """Evidence does not verify; ``code`` says why."""


@dataclass(frozen=True)
class Evidence:
    token: str
    claims: dict[str, Any]
    signer: x509.Certificate
    #: The signer certificate's key id (``pki.keyid``).
    keyid: str

    @property
    def data(self) -> Any:
        return self.claims.get("data")


def canonical(value: Any) -> bytes:
    """The RFC 8785 form of ``value``: the ledger's fast canonicaliser, which falls back to
    ``rfc8785`` for what it does not prove identical (floats, large integers)."""
    return canonical_json.canonical(value)


class EvidenceSigner:
    """Signs evidence with one key pair: the protected header and key id are built once."""

    def __init__(self, pair: pki.KeyPair) -> None:
        self.keyid = pki.keyid(pair.cert)
        der = pair.cert.public_bytes(serialization.Encoding.DER)
        header = {"alg": "ES256", "typ": TYP, "kid": self.keyid, "x5c": [b64encode(der)]}
        # The header's bytes as joserfc writes them, so that tokens match byte for byte.
        text = json.dumps(header, ensure_ascii=True, separators=(",", ":"))
        self._header = b64url_encode(text.encode("ascii")) + "."
        self._key = pair.key

    def sign(self, claims: dict[str, Any]) -> str:
        """The compact JWS of ``claims`` (the payload is their RFC 8785 form)."""
        signing_input = self._header + b64url_encode(canonical(claims))
        r, s = decode_dss_signature(self._key.sign(signing_input.encode("ascii"), _ES256))
        raw = r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")
        return signing_input + "." + b64url_encode(raw)

    def issue(self, service: ServiceId, data: Any, *, exchange_id: str, client: str) -> str:
        claims = {
            "iss": str(service),
            "iat": int(time.time()),
            "exchange_id": exchange_id,
            "client": client,
            "data": data,
        }
        return self.sign(claims)


def issue(
    service: ServiceId, data: Any, signer: pki.KeyPair, *, exchange_id: str, client: str
) -> str:
    """One token, signed once: a source that signs many keeps an ``EvidenceSigner``."""
    return EvidenceSigner(signer).issue(service, data, exchange_id=exchange_id, client=client)


def _segment(part: str, what: str) -> dict[str, Any]:
    """One encoded segment of a compact JWS, decoded strictly: a JSON object."""
    try:
        value = json.loads(b64url_decode(part))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvidenceError("evidence.malformed", "not a compact JWS") from exc
    if not isinstance(value, dict):
        raise EvidenceError("evidence.malformed", f"JWS {what} is not an object")
    return value


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of evidence *without verifying it*: only for evidence this process has just
    signed or already verified (the gateway checks the data against the service schema), so
    the payload is decoded without the strict checks of ``verify``."""
    try:
        part = token.split(".", 2)[1]
        # orjson: the same values as json.loads for what ``verify`` or our signer let through.
        value = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise EvidenceError("evidence.malformed", "not a compact JWS") from exc
    if not isinstance(value, dict):
        raise EvidenceError("evidence.malformed", "JWS payload is not an object")
    return value


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


def _x5c(header: dict[str, Any]) -> str:
    """The signer's certificate (base64 DER) from a protected header of the expected ``typ``
    and ``alg``; no extension is understood, so none may be critical (RFC 7515 §4.1.11)."""
    if header.get("typ") != TYP or header.get("alg") not in ALGORITHMS:
        raise EvidenceError("evidence.malformed", "unexpected JWS typ or alg")
    if "crit" in header:
        raise EvidenceError("evidence.malformed", "JWS header has critical extensions")
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise EvidenceError("evidence.malformed", "JWS header has no x5c certificate")
    return chain[0]


@dataclass(frozen=True)
class _Signer:
    """A certificate whose key may sign evidence, with what is read from it once."""

    cert: x509.Certificate
    key: ec.EllipticCurvePublicKey
    keyid: str
    member: MemberId | None


def _load_signer(encoded: str) -> _Signer:
    try:
        cert = x509.load_der_x509_certificate(b64decode(encoded))
        # Key and extensions are parsed lazily: parse them here, a broken one is malformed.
        cert.public_key()
        cert.extensions  # noqa: B018
    except ValueError as exc:
        raise EvidenceError("evidence.malformed", "x5c certificate does not parse") from exc
    return _Signer(cert, _signing_key(cert), pki.keyid(cert), pki.member_of(cert))


def _verified_payload(token: str, key: ec.EllipticCurvePublicKey) -> bytes:
    """The payload's bytes, once the ES256 signature over header and payload verifies."""
    header, payload, signature = token.split(".")  # three parts: ``verify`` counted them
    try:
        raw = b64url_decode(signature)
        if len(raw) != 2 * _COORDINATE:
            raise InvalidSignature
        r, s = int.from_bytes(raw[:_COORDINATE], "big"), int.from_bytes(raw[_COORDINATE:], "big")
        key.verify(encode_dss_signature(r, s), f"{header}.{payload}".encode("ascii"), _ES256)
        return b64url_decode(payload)
    except (EncodingError, InvalidSignature, UnicodeEncodeError) as exc:
        raise EvidenceError("evidence.bad_signature", "JWS signature does not verify") from exc


def _verified_claims(token: str, key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The claims, once the signature verifies and the payload is its own canonical form."""
    payload = _verified_payload(token, key)
    if len(payload) > MAX_TOKEN:
        raise EvidenceError("evidence.malformed", "payload is too large")
    try:
        claims = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise EvidenceError("evidence.malformed", "payload is not JSON") from exc
    if not isinstance(claims, dict) or canonical(claims) != payload:
        raise EvidenceError("evidence.not_canonical", "payload is not RFC 8785 canonical JSON")
    return claims


class EvidenceVerifier:
    """Verifies evidence against one CA: signature, canonical form, signer chain and
    signer-issuer match.

    For a hot path (a remote source's every answer), a protected header is decoded and checked,
    and its signer's certificate parsed, its key checked and its CA signature verified, once per
    header (keyed by the header's encoded bytes, which hold the certificate's, so another
    certificate with the same subject is checked afresh); the token's signature, canonical form
    and claims, and the certificate's validity at ``iat``, are checked for every token.
    Revocation is the registry's, checked by the caller at each use.
    """

    def __init__(self, ca_cert: x509.Certificate) -> None:
        self._issued = pki.IssuedChecker(ca_cert)
        self._signers: dict[str, _Signer] = {}

    def verify(self, token: str) -> Evidence:
        if not isinstance(token, str) or len(token) > 2 * MAX_TOKEN:
            raise EvidenceError("evidence.malformed", "evidence must be a compact JWS string")
        token = token.strip()
        if token.count(".") != 2 or token.index(".") > MAX_HEADER:
            raise EvidenceError("evidence.malformed", "not a compact JWS")
        signer = self._signer(token[: token.index(".")])
        claims = _verified_claims(token, signer.key)
        self._check_signer(signer, claims)
        return Evidence(token, claims, signer.cert, signer.keyid)

    def _signer(self, header: str) -> _Signer:
        """The signer a protected header (its encoded segment) names: the header decoded and
        checked, its certificate parsed and its key checked, once per distinct segment (the
        bytes determine all of it); what depends on time or on the token is checked per token."""
        signer = self._signers.get(header)
        if signer is None:
            signer = _load_signer(_x5c(_segment(header, "header")))
            if len(self._signers) >= SIGNER_CACHE:
                self._signers.clear()
            self._signers[header] = signer
        return signer

    def _check_signer(self, signer: _Signer, claims: dict[str, Any]) -> None:
        """The signer was issued by the CA, valid at ``iat``, and is the provider of ``iss``."""
        iat, iss = claims.get("iat"), claims.get("iss")
        if type(iat) is not int or not isinstance(iss, str):
            raise EvidenceError("evidence.malformed", "iss and iat claims are required")
        try:
            at = dt.datetime.fromtimestamp(iat, dt.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise EvidenceError("evidence.malformed", "iat is not a time") from exc
        try:
            self._issued.check(signer.keyid, signer.cert, at)
        except pki.CertificateProblem as exc:
            raise EvidenceError("evidence.untrusted_signer", str(exc)) from exc
        try:
            provider = ServiceId.parse(iss).provider.member
        except ValueError as exc:
            raise EvidenceError("evidence.malformed", "iss is not a service identifier") from exc
        if signer.member != provider:
            raise EvidenceError(
                "evidence.wrong_signer",
                f"signed by {signer.member}, not by the provider {provider}",
            )


def verify(token: str, ca_cert: x509.Certificate) -> Evidence:
    """Verify one token (``EvidenceVerifier`` for many against the same CA); return the claims."""
    return EvidenceVerifier(ca_cert).verify(token)
